"""`python -m loadbench bench|knee|scale|all|raw`: the load bench from the command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from deploy import ROOT
from loadbench import bench, raw
from loadbench.locust_run import LOCUSTFILE, Load
from loadbench.target import TargetError, resolve


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m loadbench", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)
    for name, text in (
        ("bench", "Locust headless at a fixed load, raw worker speed and their ratio"),
        ("knee", "open loop: uploads at rising set rates, the highest one the cluster keeps up"),
        ("scale", "the bench with workers on 1, 2, 3 VMs (stops workers, restores them)"),
        ("all", "bench, knee, then scale"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        add_target_args(sub)
        add_load_args(sub)
    ui = commands.add_parser("ui", help="Locust's web UI on 127.0.0.1:8089 aimed at the target")
    add_target_args(ui)
    ui.add_argument("--port", type=int, default=8089)
    speed = commands.add_parser("raw", help="raw worker speed only, no service needed")
    speed.add_argument("--mix", default=Load.mix)
    speed.add_argument("--repeats", type=int, default=5)
    return top


def add_target_args(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--url",
        help="service URL (default: the inventory's or the lab's VIP; CA: IMGCLOUD_CA)",
    )
    sub.add_argument("-i", "--inventory", help="Ansible inventory of real VMs")
    sub.add_argument("--cores", type=int, help="cores all worker VMs have (real VMs only)")
    sub.add_argument("--out", type=Path, default=ROOT / "reports" / "load")


def add_load_args(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("-u", "--users", type=int, default=Load.users)
    sub.add_argument("-r", "--spawn-rate", type=float, default=Load.spawn_rate)
    sub.add_argument("-t", "--duration", type=int, default=Load.duration_s, help="seconds")
    sub.add_argument("--mix", default=Load.mix, help="upload weights, e.g. 2mp=3,12mp=1")
    sub.add_argument("--repeats", type=int, default=5, help="raw speed repeats per photo")
    sub.add_argument("--vms", default="1,2,3", help="scale: worker VM counts to run")
    sub.add_argument("--scale-duration", type=float, default=60, help="scale: seconds per step")
    sub.add_argument(
        "--rates", default="2,4,6,8,10", help="knee: uploads per second, one step each, rising"
    )
    sub.add_argument("--step", type=float, default=40, help="knee: seconds per rate")
    sub.add_argument(
        "--knee-mix", default="2mp=1", help="knee and scale: upload weights (2 MP photos)"
    )
    sub.add_argument("--scale-rate", type=float, default=12, help="scale: uploads/s, past the knee")


def print_bench(summary: dict) -> None:
    ratio = summary["ratio"]
    flow = summary["upload_to_done_ms"]
    print(
        f"resize throughput {summary['resize_throughput']['images_per_s']} images/s; "
        f"upload-to-done p50/p95/p99 {flow['p50']}/{flow['p95']}/{flow['p99']} ms; "
        f"error rate {summary['requests']['error_rate']}"
    )
    print(
        f"raw worker speed {ratio['raw_images_per_s_per_core']} images/s per core x "
        f"{ratio['cores']} cores ({ratio['cores_basis']})"
    )
    print(f"ratio {ratio['value']} (target >= {ratio['target']})")
    view = summary.get("worker_cpu_view", {})
    if "worker_cores_used" in view:
        print(
            f"workers used {view['worker_cores_used']} cores, {view['worker_cpu_ms_per_image']} "
            f"CPU ms per image against {view['raw_cpu_ms_per_image']} raw: resizing is "
            f"{view['resize_share_of_worker_cpu']} of a worker's CPU"
        )
        print(
            f"the whole lab used {view['lab_cores_used']} cores, {view['lab_cpu_ms_per_image']} "
            f"CPU ms per image: resizing is {view['resize_share_of_lab_cpu']} of it"
        )


def web_ui(args: argparse.Namespace) -> int:
    """Replace this process with Locust's web UI, host field set to the target."""
    try:
        target = resolve(args.url, args.inventory)
    except TargetError as error:
        print(f"loadbench: {error}", file=sys.stderr)
        return 2
    command = [
        sys.executable, "-m", "locust", "--locustfile", str(LOCUSTFILE),
        "--host", target.url.rstrip("/"), "--web-host", "127.0.0.1", "--web-port", str(args.port),
    ]  # fmt: skip
    print(f"Locust web UI on http://127.0.0.1:{args.port}, aimed at {target.url} ({target.source})")
    sys.stdout.flush()
    os.environ.update(target.env)  # the users' API token and CA (tests/load/locustfile.py)
    os.execv(sys.executable, command)
    return 0  # not reached: execv replaced the process


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "raw":
        try:
            weights = bench.mix_weights(args.mix)
        except ValueError as error:
            print(f"loadbench: {error}", file=sys.stderr)
            return 2
        speed = raw.measure(weights, repeats=args.repeats)
        print(json.dumps(speed.as_json(), indent=2))
        return 0
    if args.command == "ui":
        return web_ui(args)
    try:
        target = resolve(args.url, args.inventory)
        load = Load(args.users, args.spawn_rate, args.duration, args.mix)
        cores = bench.cores_for(target, args.cores)
        rates = [float(r) for r in args.rates.split(",") if r]
        if not rates or min(rates) <= 0 or rates != sorted(rates):
            raise ValueError(f"--rates must be positive and rising, not {args.rates}")
        bench.mix_weights(args.mix)
        bench.mix_weights(args.knee_mix)
        if args.scale_rate <= 0 or args.scale_duration < 10:
            raise ValueError("--scale-rate must be positive and --scale-duration at least 10 s")
    except (TargetError, ValueError) as error:
        print(f"loadbench: {error}", file=sys.stderr)
        return 2
    print(f"target {target.url} ({target.source}); reports in {args.out}")
    if args.command in ("bench", "all"):
        summary = bench.bench(target, load, args.out, cores, repeats=args.repeats)
        print_bench(summary)
    if args.command in ("knee", "all"):
        from loadbench import openloop

        print(openloop.report(openloop.run(target, rates, args.step, args.knee_mix, args.out)))
    if args.command in ("scale", "all"):
        from loadbench import scaling  # needs the cluster's Nomad, not the dev service

        counts = [int(n) for n in args.vms.split(",")]
        saturation = scaling.Saturation(args.scale_rate, args.scale_duration, args.knee_mix)
        scaling.run(target, saturation, counts, args.out, args.cores, repeats=args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
