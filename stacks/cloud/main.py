"""cdktn app of cnai's cloud clusters: `cnai synth ENV` (or `cdktn synth` here; CNAI_ENV picks one).

One stack per cloud environment (cluster.target eks or gke), from the same spec the platform uses.
"""

import os

from modules.cloud.stack import OUTDIR, build_stack, cloud_app
from modules.spec import list_envs, load_spec
from modules.spec.models import CLOUD_TARGETS

requested = os.environ.get("CNAI_ENV")
app = cloud_app(OUTDIR)
for env in [requested] if requested else list_envs():
    spec = load_spec(env)
    if spec.cluster.target in CLOUD_TARGETS:
        build_stack(app, spec, OUTDIR)
app.synth()
