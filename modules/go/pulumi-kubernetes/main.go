// The Pulumi Kubernetes provider plugin (pulumi-resource-kubernetes), served from the provider module
// the BOM pins. Upstream's main package embeds files its release build generates; modules/gobuild.py
// writes the same two files here from the module's schema.json and terraform-mapping.json.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var schema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, schema, terraformMapping)
}
