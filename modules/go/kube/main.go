// Command kube is cnai's multi-call build of the sim control plane: etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler linked into one binary, so that the shared dependency
// tree (client-go, apiserver, the API types) is compiled and linked once instead of four times.
//
// It dispatches on its first argument (`kube kube-apiserver --flags...`), or on the name it was
// called by (a link named kube-apiserver). Each branch is exactly the upstream main of that program.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	_ "time/tzdata" // CronJob time zones (upstream kube-apiserver and controller-manager mains)

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

var commands = map[string]func() *cobra.Command{
	"kube-apiserver":          func() *cobra.Command { return apiserver.NewAPIServerCommand() },
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: kube {etcd|kube-apiserver|kube-controller-manager|kube-scheduler} [flags...]")
	os.Exit(2)
}

func main() {
	name, args := filepath.Base(os.Args[0]), os.Args[1:]
	if name != "etcd" && commands[name] == nil {
		if len(args) == 0 {
			usage()
		}
		name, args = args[0], args[1:]
	}
	if name == "etcd" {
		etcdmain.Main(append([]string{"etcd"}, args...))
		return
	}
	newCommand, ok := commands[name]
	if !ok {
		usage()
	}
	command := newCommand()
	command.SetArgs(args)
	os.Exit(cli.Run(command))
}
