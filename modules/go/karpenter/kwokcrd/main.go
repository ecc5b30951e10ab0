// Command kwokcrd prints the KWOKNodeClass CRD that Karpenter's kwok cloud provider embeds: the node
// class its NodePools reference in the sim (on EKS they reference an EC2NodeClass). Printed from the
// module itself, so the sim serves exactly the schema the provider it runs was built with.
package main

import (
	"fmt"

	"sigs.k8s.io/karpenter/kwok/apis"
)

func main() {
	fmt.Print(string(apis.KWOKNodeClassCRD))
}
