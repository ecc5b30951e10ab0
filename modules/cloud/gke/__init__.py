"""The GKE cloud stack, one module per concern (as terraform-google-modules split theirs):

    stack.py       GkeStack, which composes the modules below
    network.py     the VPC: the VPC-native subnet and its ranges, Cloud NAT, the deny-all ingress fallback
    cluster.py     the Cloud KMS key and the regional private cluster it encrypts
    node_pools.py  the node service account, the system pool and a pool per GPU pool
    buckets.py     private, CMEK-encrypted GCS buckets
    identities.py  a Google service account per workload, bound to its Kubernetes one

Each module declares into the stack's own scope, not a nested construct: a resource's Terraform address
is its construct id there, and nesting would prefix and hash it, so `tofu apply` would destroy and
recreate the live resources.
"""
