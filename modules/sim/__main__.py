"""`python -m modules.sim VERB [--emulate ENV ...] [--karpenter] [--platform ENV]`, VERB one of setup, up,
down, status, purge: what `cnai setup|up|down|status sim` run."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console

from modules.errors import CnaiError
from modules.gobuild import ensure_built
from modules.sim.pulumi import deploy_environment
from modules.sim.runtime import DEFAULT_EMULATES, SimRuntime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modules.sim")
    parser.add_argument("verb", choices=["setup", "up", "down", "status", "purge"])
    parser.add_argument(
        "--emulate",
        action="append",
        help=f"environment whose node groups to emulate (default: {' '.join(DEFAULT_EMULATES)})",
    )
    parser.add_argument(
        "--platform",
        metavar="ENV",
        help="after up: deploy ENV's platform (an environment on an existing cluster) with the real `pulumi up`",
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
            if args.platform:
                lifecycle = deploy_environment(runtime.paths, args.platform, console)
                console.print(f"[green]{args.platform}'s platform deployed[/]; endpoints: {lifecycle.paths.endpoints}")
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
    except CnaiError as exc:
        console.print(f"[red]{exc}[/]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
