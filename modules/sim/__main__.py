"""`python -m modules.sim {setup,up,down,status,purge} [--emulate ENV ...] [--karpenter]` until the cnai CLI wires
`cnai setup|up|down|status sim`."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console

from modules.sim.build import SimBuildError, ensure_built
from modules.sim.runtime import DEFAULT_EMULATES, SimError, SimRuntime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modules.sim")
    parser.add_argument("verb", choices=["setup", "up", "down", "status", "purge"])
    parser.add_argument(
        "--emulate",
        action="append",
        help=f"environment whose node groups to emulate (default: {' '.join(DEFAULT_EMULATES)})",
    )
    parser.add_argument(
        "--karpenter",
        action="store_true",
        help="scale EKS GPU pools from zero with Karpenter's kwok provider instead of emulating them at max_nodes",
    )
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    runtime = SimRuntime(tuple(args.emulate or DEFAULT_EMULATES), console=console, karpenter=args.karpenter)
    try:
        if args.verb == "setup":
            built = ensure_built(console)
            console.print(f"[green]sim binaries ready[/] ({len(built)} built)")
        elif args.verb == "up":
            report = runtime.up()
            console.print(
                f"[green]sim up[/] in {report.seconds:.1f}s: emulating {', '.join(report.emulates)}, "
                f"{report.nodes} nodes; KUBECONFIG={runtime.kubeconfig()}"
            )
            for phase, seconds in report.phases.items():
                console.print(f"  {phase}: {seconds:.1f}s")
        elif args.verb == "down":
            console.print("stopped" if runtime.down() else "nothing was running")
        elif args.verb == "purge":
            runtime.purge()
            console.print(f"deleted {runtime.paths.home}")
        else:
            rows = runtime.status()
            if not rows:
                console.print("sim is not running")
                return 1
            for row in rows:
                mark = "[green]ready[/]" if row.healthy else "[red]not ready[/]"
                console.print(f"{row.name:26} {row.state:9} pid {row.pid:<7} {mark}  {row.log}")
            print(json.dumps({k: round(v) for k, v in runtime.rss_mib().items()}))
            return 0 if all(r.healthy for r in rows) else 1
    except (SimError, SimBuildError) as exc:
        console.print(f"[red]{exc}[/]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
