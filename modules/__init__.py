"""cnai: a reference distribution for cloud-native AI platforms."""
