#!/bin/sh
# verify-release-signature.sh KEY FINGERPRINT SUMS SIG
# Trust SUMS only when SIG is a good signature on it by the key in KEY whose
# fingerprint is FINGERPRINT (HashiCorp's, https://www.hashicorp.com/trust/security).
# A key file holding other keys, or a good signature by another key, is refused.
# Prints what it refused and exits 1; prints "verified" and exits 0.
set -eu
key=$1 want=$(echo "$2" | tr -d ' ' | tr 'a-f' 'A-F') sums=$3 sig=$4
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
fingerprints=$(gpg --batch --homedir "$home" --with-colons --import-options show-only \
    --import "$key" 2>/dev/null | awk -F: '$1 == "pub" { primary = 1; next }
        $1 == "fpr" && primary { print $10; primary = 0 }')
if [ "$fingerprints" != "$want" ]; then
    echo "refused: $key holds the key(s) [$(echo $fingerprints)], not exactly $want" >&2
    exit 1
fi
# The key file, unarmored, is the keyring (no import: that needs gpg-agent, which
# Debian's gpg package leaves out). It holds the one key just checked, and gpgv
# trusts exactly the keys in the keyring it is given.
keyring=$home/trusted.gpg
gpg --batch --homedir "$home" --yes --output "$keyring" --dearmor "$key"
if ! out=$(gpgv --keyring "$keyring" "$sig" "$sums" 2>&1); then
    echo "refused: $sig is not a good signature on $sums by $want: $out" >&2
    exit 1
fi
echo verified
