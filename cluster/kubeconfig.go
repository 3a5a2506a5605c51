package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/pki"
)

// Kubeconfig returns the admin kubeconfig entry of a cluster, read from
// Docker alone: the CA and admin token out of the control plane's volume
// (the container may be stopped) and the API address from its labels.
func Kubeconfig(ctx context.Context, d *Docker, cluster string) (client.Kubeconfig, error) {
	ctrl, err := findOne(ctx, d, cluster, RoleControl)
	if err != nil {
		return client.Kubeconfig{}, err
	}
	ca, err := readContainerFile(ctx, d, ctrl.ID, "/data/"+pki.CACertFile)
	if err != nil {
		return client.Kubeconfig{}, fmt.Errorf("read the CA of cluster %s: %w", cluster, err)
	}
	tokens, err := clusterTokens(ctx, d, ctrl.ID)
	if err != nil {
		return client.Kubeconfig{}, fmt.Errorf("read the tokens of cluster %s: %w", cluster, err)
	}
	return client.Kubeconfig{Context: ContextName(cluster), Server: "https://" + ctrl.Labels[LabelAPI], CAData: ca, Token: tokens.Admin}, nil
}

func clusterTokens(ctx context.Context, d *Docker, ctrl string) (pki.Tokens, error) {
	var t pki.Tokens
	data, err := readContainerFile(ctx, d, ctrl, "/data/"+pki.TokensFile)
	if err != nil {
		return t, err
	}
	if err := json.Unmarshal(data, &t); err != nil {
		return t, fmt.Errorf("parse %s: %w", pki.TokensFile, err)
	}
	return t, nil
}

// KubeconfigPath is the file mini merges into: path if set, else the first
// entry of $KUBECONFIG, else ~/.kube/config.
func KubeconfigPath(path string) string {
	if path != "" {
		return path
	}
	if env := os.Getenv(clientcmd.RecommendedConfigPathEnvVar); env != "" {
		if list := filepath.SplitList(env); len(list) > 0 && list[0] != "" {
			return list[0]
		}
	}
	return clientcmd.RecommendedHomeFile
}

// MergeKubeconfig adds (or replaces) the cluster, user and context of kc
// in the file at path, making it the current context if switchTo.
func MergeKubeconfig(path string, kc client.Kubeconfig, switchTo bool) error {
	return editKubeconfig(path, func(cfg *clientcmdapi.Config) bool {
		one := kc.Build()
		cfg.Clusters[kc.Context] = one.Clusters[kc.Context]
		cfg.AuthInfos[kc.Context] = one.AuthInfos[kc.Context]
		cfg.Contexts[kc.Context] = one.Contexts[kc.Context]
		if switchTo || cfg.CurrentContext == "" {
			cfg.CurrentContext = kc.Context
		}
		return true
	})
}

// RemoveKubeconfig removes the cluster, user and context named context
// from the file at path (clearing the current context if it was it). A
// missing file or entry is not an error.
func RemoveKubeconfig(path, context string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return editKubeconfig(path, func(cfg *clientcmdapi.Config) bool {
		_, a := cfg.Clusters[context]
		_, b := cfg.AuthInfos[context]
		_, c := cfg.Contexts[context]
		if !a && !b && !c {
			return false
		}
		delete(cfg.Clusters, context)
		delete(cfg.AuthInfos, context)
		delete(cfg.Contexts, context)
		if cfg.CurrentContext == context {
			cfg.CurrentContext = ""
		}
		return true
	})
}

// editKubeconfig loads path (or an empty config), applies edit, and
// writes it back if edit says it changed, under a lock file so concurrent
// creates and deletes do not lose each other's entries.
func editKubeconfig(path string, edit func(*clientcmdapi.Config) bool) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	unlock, err := lockFile(path+".lock", 10*time.Second)
	if err != nil {
		return err
	}
	defer unlock()
	cfg, err := clientcmd.LoadFromFile(path)
	if errors.Is(err, os.ErrNotExist) {
		cfg, err = clientcmdapi.NewConfig(), nil
	}
	if err != nil {
		return fmt.Errorf("read kubeconfig %s: %w", path, err)
	}
	if !edit(cfg) {
		return nil
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// lockFile takes an exclusive lock by creating path, waiting up to
// timeout; a lock older than a minute is taken as left by a dead process.
func lockFile(path string, timeout time.Duration) (func(), error) {
	deadline := time.Now().Add(timeout)
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if st, err := os.Stat(path); err == nil && time.Since(st.ModTime()) > time.Minute {
			os.Remove(path)
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("lock %s: still held after %s (remove it if no mini command is running)", path, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
