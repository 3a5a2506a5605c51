package client

import (
	"fmt"
	"os"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Kubeconfig describes one cluster entry of a kubeconfig file.
type Kubeconfig struct {
	Context string // context name; also used for the cluster and user names
	Server  string
	CAData  []byte
	Token   string
}

// Build returns the kubeconfig document with the entry as current context.
func (k Kubeconfig) Build() *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[k.Context] = &clientcmdapi.Cluster{Server: k.Server, CertificateAuthorityData: k.CAData}
	cfg.AuthInfos[k.Context] = &clientcmdapi.AuthInfo{Token: k.Token}
	cfg.Contexts[k.Context] = &clientcmdapi.Context{Cluster: k.Context, AuthInfo: k.Context, Namespace: "default"}
	cfg.CurrentContext = k.Context
	return cfg
}

// Bytes renders the kubeconfig as YAML.
func (k Kubeconfig) Bytes() ([]byte, error) { return clientcmd.Write(*k.Build()) }

// WriteFile writes the kubeconfig to path (mode 0600), replacing it.
func (k Kubeconfig) WriteFile(path string) error {
	data, err := k.Bytes()
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// NoContextError is LoadKubeconfig's error when the kubeconfig has no
// current context or lacks the one asked for.
type NoContextError struct{ Msg string }

func (e *NoContextError) Error() string { return e.Msg }

// LoadKubeconfig resolves a client configuration the way kubectl does:
// path (or $KUBECONFIG, or ~/.kube/config) and context ("" = current).
func LoadKubeconfig(path, context string) (Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		rules.ExplicitPath = path
	}
	raw, err := rules.Load()
	if err != nil {
		return Config{}, "", fmt.Errorf("load kubeconfig: %w", err)
	}
	if context == "" {
		context = raw.CurrentContext
	}
	if context == "" {
		return Config{}, "", &NoContextError{fmt.Sprintf("no current context in the kubeconfig (%s); pass --context or create a cluster", describeRules(rules))}
	}
	ctx, ok := raw.Contexts[context]
	if !ok {
		return Config{}, "", &NoContextError{fmt.Sprintf("context %q is not in the kubeconfig (%s)", context, describeRules(rules))}
	}
	cl, ok := raw.Clusters[ctx.Cluster]
	if !ok {
		return Config{}, "", fmt.Errorf("context %q names cluster %q, which the kubeconfig does not define", context, ctx.Cluster)
	}
	cfg := Config{Server: cl.Server, CAData: cl.CertificateAuthorityData, Insecure: cl.InsecureSkipTLSVerify}
	if len(cfg.CAData) == 0 && cl.CertificateAuthority != "" {
		if cfg.CAData, err = os.ReadFile(cl.CertificateAuthority); err != nil {
			return Config{}, "", fmt.Errorf("read CA of context %q: %w", context, err)
		}
	}
	if u, ok := raw.AuthInfos[ctx.AuthInfo]; ok {
		cfg.Token = u.Token
		if cfg.Token == "" && u.TokenFile != "" {
			b, err := os.ReadFile(u.TokenFile)
			if err != nil {
				return Config{}, "", fmt.Errorf("read token of context %q: %w", context, err)
			}
			cfg.Token = string(b)
		}
	}
	ns := ctx.Namespace
	if ns == "" {
		ns = "default"
	}
	return cfg, ns, nil
}

func describeRules(r *clientcmd.ClientConfigLoadingRules) string {
	if r.ExplicitPath != "" {
		return r.ExplicitPath
	}
	if len(r.Precedence) > 0 {
		return fmt.Sprint(r.Precedence)
	}
	return "default locations"
}
