package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/dhtnode/dhtnode/node"
)

func (a *app) newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the dhtnode version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(a.stdout, "dhtnode %s (%s %s/%s)\n", node.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
