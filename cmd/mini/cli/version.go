package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/version"
	"sigs.k8s.io/yaml"

	"github.com/minicluster/mini/control/client"
)

func init() { extraCommands = append(extraCommands, newVersionCmd) }

// versions is what mini version prints (kubectl version's shape).
type versions struct {
	Client clientVersion `json:"clientVersion"`
	Server *version.Info `json:"serverVersion,omitempty"`
	URL    string        `json:"server,omitempty"`
}

type clientVersion struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

func newVersionCmd(st streams) *cobra.Command {
	var (
		clientOnly bool
		output     string
	)
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print mini's version, and the API server's of the current context when it answers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "" && output != "json" && output != "yaml" {
				return usageError("--output %q: want json or yaml", output)
			}
			v := versions{Client: thisVersion()}
			var serr error
			if !clientOnly {
				v.Server, v.URL, serr = serverVersion(cmd)
			}
			if err := printVersions(st, v, output); err != nil {
				return err
			}
			return serr
		},
	}
	f := cmd.Flags()
	f.BoolVar(&clientOnly, "client", false, "only mini's own version; do not ask a cluster")
	f.StringVarP(&output, "output", "o", "", "json or yaml")
	addKubeconfigFlags(cmd)
	return cmd
}

// thisVersion describes this binary.
func thisVersion() clientVersion {
	v := clientVersion{Version: Version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, dirty string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = map[string]string{"true": "-dirty"}[s.Value]
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			v.Commit = rev + dirty
		}
	}
	return v
}

// serverVersion asks the API server of the kubeconfig's context.
func serverVersion(cmd *cobra.Command) (*version.Info, string, error) {
	c, _, err := apiClient(cmd)
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
	defer cancel()
	body, err := c.Do(ctx, client.Request{Method: "GET", Path: "/version"})
	if err != nil {
		return nil, c.Config().Server, apiErr(c, err)
	}
	var info version.Info
	if err := json.Unmarshal(body, &info); err != nil {
		return nil, c.Config().Server, fmt.Errorf("the server at %s answered /version with something else: %w", c.Config().Server, err)
	}
	return &info, c.Config().Server, nil
}

func printVersions(st streams, v versions, output string) error {
	switch output {
	case "json":
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(st.out, "%s\n", b)
		return err
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = st.out.Write(b)
		return err
	}
	c := v.Client
	extra := []string{c.GoVersion, c.Platform}
	if c.Commit != "" {
		extra = append([]string{"commit " + c.Commit}, extra...)
	}
	fmt.Fprintf(st.out, "Client Version: %s (%s)\n", c.Version, strings.Join(extra, ", "))
	if v.Server != nil {
		fmt.Fprintf(st.out, "Server Version: %s (at %s)\n", v.Server.GitVersion, v.URL)
	}
	return nil
}

// apiClient connects the way the object verbs do, from cmd's --kubeconfig,
// --context and --namespace flags when it has them (else $KUBECONFIG or
// ~/.kube/config and the current context). It returns the namespace to act
// in too. A missing context is ExitNotFound.
func apiClient(cmd *cobra.Command) (*client.Client, string, error) {
	flag := func(name string) string {
		if f := cmd.Flags().Lookup(name); f != nil {
			return f.Value.String()
		}
		return ""
	}
	kf := &kubeFlags{kubeconfig: flag("kubeconfig"), context: flag("context"), namespace: flag("namespace")}
	s, err := kf.open()
	if err != nil {
		return nil, "", err
	}
	return s.c, s.ns, nil
}

// apiErr explains an API call that could not reach the server.
func apiErr(c *client.Client, err error) error {
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &oe) || errors.As(err, &ne) {
		return fmt.Errorf("the API server at %s does not answer: %w\n(is the cluster running? mini cluster list shows it; mini cluster start NAME starts it)", c.Config().Server, err)
	}
	return err
}
