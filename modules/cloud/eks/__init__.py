"""The EKS cloud stack, one module per concern (as terraform-aws-modules split theirs):

    stack.py       EksStack, which composes the modules below
    network.py     the VPC: subnets, internet gateway, NAT, routes, flow logs
    cluster.py     the KMS key, the control plane, its managed add-ons (EBS CSI with its role)
    node_pools.py  the system managed node group; GPU pools through Karpenter's AWS half (karpenter.py)
    buckets.py     private, KMS-encrypted, TLS-only S3 buckets
    identities.py  a Pod Identity role per workload, scoped to its buckets
    policies.py    IAM documents and roles the modules above write the same way

Each module declares into the stack's own scope, not a nested construct: a resource's Terraform address
is its construct id there, and nesting would prefix and hash it, so `tofu apply` would destroy and
recreate the live resources. KarpenterAws has always been a construct of its own (`karpenter_…`).
"""
