package cluster

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/minicluster/mini/control/client"
)

func TestKubeconfigMergeAndRemove(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "config")
	other := client.Kubeconfig{Context: "someone-else", Server: "https://10.0.0.1:6443", Token: "x"}
	if err := MergeKubeconfig(path, other, true); err != nil {
		t.Fatal(err)
	}
	a := client.Kubeconfig{Context: ContextName("a"), Server: "https://127.0.0.1:1111", CAData: []byte("CA"), Token: "ta"}
	if err := MergeKubeconfig(path, a, false); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "someone-else" {
		t.Errorf("current context %q; merging without switching must keep it", cfg.CurrentContext)
	}
	if cfg.Clusters["mini-a"] == nil || cfg.Clusters["mini-a"].Server != a.Server || cfg.AuthInfos["mini-a"].Token != "ta" {
		t.Fatalf("mini-a not merged: %+v", cfg.Clusters)
	}
	if err := MergeKubeconfig(path, a, true); err != nil {
		t.Fatal(err)
	}
	if cfg, _ = clientcmd.LoadFromFile(path); cfg.CurrentContext != "mini-a" {
		t.Errorf("current context %q after merging with switch, want mini-a", cfg.CurrentContext)
	}
	if err := RemoveKubeconfig(path, "mini-a"); err != nil {
		t.Fatal(err)
	}
	cfg, _ = clientcmd.LoadFromFile(path)
	if _, ok := cfg.Contexts["mini-a"]; ok || cfg.CurrentContext != "" || cfg.Contexts["someone-else"] == nil {
		t.Errorf("after remove: contexts %v current %q; want only someone-else, no current", cfg.Contexts, cfg.CurrentContext)
	}
	if err := RemoveKubeconfig(filepath.Join(t.TempDir(), "absent"), "mini-a"); err != nil {
		t.Errorf("removing from a missing file: %v", err)
	}
	if _, err := os.Stat(path + ".lock"); !os.IsNotExist(err) {
		t.Errorf("lock file left behind: %v", err)
	}
}

func TestKubeconfigConcurrentMerges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kc := client.Kubeconfig{Context: ContextName(string(rune('a' + i))), Server: "https://127.0.0.1:1", Token: "t"}
			if err := MergeKubeconfig(path, kc, true); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Contexts) != 8 {
		t.Fatalf("%d contexts after 8 concurrent merges, want 8 (a merge was lost)", len(cfg.Contexts))
	}
}

func TestKubeconfigPath(t *testing.T) {
	t.Setenv("KUBECONFIG", "/x/first"+string(os.PathListSeparator)+"/x/second")
	if got := KubeconfigPath(""); got != "/x/first" {
		t.Errorf("KubeconfigPath = %q, want the first of $KUBECONFIG", got)
	}
	if got := KubeconfigPath("/y"); got != "/y" {
		t.Errorf("explicit path ignored: %q", got)
	}
}
