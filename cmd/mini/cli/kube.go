package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/minicluster/mini/control/client"
)

// The verbs that act on objects (apply, get, describe, delete, logs, exec,
// scale, rollout, port-forward) share the flags that pick the cluster and
// the namespace, as kubectl's do, and one connection per invocation.

// kubeFlags select the kubeconfig, context and namespace.
type kubeFlags struct {
	kubeconfig, context, namespace string
	allNamespaces                  bool
}

// addKubeconfigFlags registers --kubeconfig and --context (completing
// context names) on cmd.
func addKubeconfigFlags(cmd *cobra.Command) *kubeFlags {
	f := &kubeFlags{}
	fl := cmd.Flags()
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG or ~/.kube/config)")
	fl.StringVar(&f.context, "context", "", "kubeconfig context to use (default the current context)")
	return f
}

// addKubeFlags registers --kubeconfig, --context and -n on cmd, and -A
// when allNS.
func addKubeFlags(cmd *cobra.Command, allNS bool) *kubeFlags {
	f := addKubeconfigFlags(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&f.namespace, "namespace", "n", "", "namespace (default the context's, or default)")
	if allNS {
		fl.BoolVarP(&f.allNamespaces, "all-namespaces", "A", false, "across all namespaces")
	}
	return f
}

// session is one verb's connection to the API server.
type session struct {
	c  *client.Client
	ns string // the namespace to act in
	rs []client.Resource
}

// open loads the kubeconfig and connects.
func (f *kubeFlags) open() (*session, error) {
	cfg, ns, err := client.LoadKubeconfig(f.kubeconfig, f.context)
	if err != nil {
		return nil, kubeErr(err)
	}
	cfg.UserAgent = "mini-cli/" + Version
	c, err := client.New(cfg)
	if err != nil {
		return nil, err
	}
	if f.namespace != "" {
		ns = f.namespace
	}
	return &session{c: c, ns: ns}, nil
}

// listNS is the namespace to list in: "" with -A.
func (f *kubeFlags) listNS(s *session) string {
	if f.allNamespaces {
		return ""
	}
	return s.ns
}

// resources returns the server's resources (discovered once).
func (s *session) resources(ctx context.Context) ([]client.Resource, error) {
	if s.rs == nil {
		rs, err := s.c.Discover(ctx)
		if err != nil {
			return nil, err
		}
		s.rs = rs
	}
	return s.rs, nil
}

// resolve finds the one resource a name stands for.
func (s *session) resolve(ctx context.Context, name string) (client.Resource, error) {
	rs, err := s.resources(ctx)
	if err != nil {
		return client.Resource{}, err
	}
	r, err := resolveResource(rs, name)
	return r, kubeErr(err)
}

// nsOf is the namespace of an object of r in the session (none for
// cluster-scoped resources).
func (s *session) nsOf(r client.Resource) string {
	if r.Namespaced {
		return s.ns
	}
	return ""
}

// kubeErr gives the errors of the object verbs their exit codes: a missing
// context, kubeconfig or object is ExitNotFound; an unknown resource type
// or a bad manifest is ExitUsage.
func kubeErr(err error) error {
	var (
		ee *exitError
		nc *client.NoContextError
		me *client.ManifestError
		ur *unknownResourceError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		return err
	case errors.As(err, &nc):
		return withCode(ExitNotFound, fmt.Errorf("%w\n(mini cluster create NAME adds a context mini-NAME and makes it current; mini cluster list shows the clusters)", err))
	case errors.Is(err, fs.ErrNotExist), apierrors.IsNotFound(err):
		return withCode(ExitNotFound, err)
	case errors.As(err, &me), errors.As(err, &ur), errors.Is(err, client.ErrUnknownKind):
		return withCode(ExitUsage, err)
	}
	return err
}

// errList reports the errors of a verb that goes on after failures, as
// kubectl does: each in turn on stderr, the last one returned (Main prints
// it and exits with its code).
type errList struct {
	held  error
	print func(error)
}

func (l *errList) add(err error) {
	if err == nil {
		return
	}
	if l.held != nil && l.print != nil {
		l.print(l.held)
	}
	l.held = kubeErr(err)
}

// done returns the last error.
func (l *errList) done() error { return l.held }

func errPrinter(st streams) func(error) {
	return func(err error) { fmt.Fprintln(st.errOut, "error:", err) }
}
