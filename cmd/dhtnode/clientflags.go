package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/node"
)

// defaultAPIURL is the API a client command talks to when neither --api nor
// $DHTNODE_API says otherwise: the shipped api.listen.
const defaultAPIURL = "http://" + config.DefaultAPIListen

// clientOptions are the flags every client command has.
type clientOptions struct {
	api   string
	token string
	json  bool
}

// addClientFlags registers --api and --token on cmd, and --json when the
// command can print JSON.
func addClientFlags(cmd *cobra.Command, withJSON bool) *clientOptions {
	o := &clientOptions{}
	f := cmd.Flags()
	f.StringVar(&o.api, "api", "", "URL of the node's HTTP API (default $"+config.ClientAPIEnv+" or "+defaultAPIURL+")")
	f.StringVar(&o.token, "token", "", "API bearer token (default $"+config.ClientTokenEnv+")")
	if withJSON {
		f.BoolVar(&o.json, "json", false, "print the node's JSON reply")
	}
	return o
}

// client returns a client for the API chosen by flag, environment or default.
func (o *clientOptions) client(a *app) *node.Client {
	api, token := o.api, o.token
	if api == "" {
		api = a.getenv(config.ClientAPIEnv)
	}
	if api == "" {
		api = defaultAPIURL
	}
	if token == "" {
		token = a.getenv(config.ClientTokenEnv)
	}
	return node.NewClient(api, token)
}

// printJSON writes v to w as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes rows of tab-separated cells as aligned columns.
func table(w io.Writer, header string, rows []string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, r)
	}
	return tw.Flush()
}
