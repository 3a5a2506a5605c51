package e2e

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// quickStart returns the commands of README.md's "## Quick start" section:
// the lines of its first ```sh block, without comments and blank lines.
func quickStart(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cmds []string
	section, block := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			if section && len(cmds) > 0 {
				return cmds
			}
			section = line == "## Quick start"
		case section && strings.HasPrefix(line, "```"):
			if block {
				return cmds
			}
			block = line == "```sh"
		case section && block:
			if i := strings.Index(line, " #"); i >= 0 {
				line = line[:i]
			}
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				cmds = append(cmds, line)
			}
		}
	}
	t.Fatalf("README.md has no ```sh block under \"## Quick start\" (found %d commands)", len(cmds))
	return nil
}

// TestReadmeQuickStart follows README.md's quick start literally in a clean
// clone of the repository (its committed HEAD): every command must exit 0,
// the demo app must answer on 127.0.0.1:8080 from its pods, and the final
// delete must leave nothing of cluster demo behind.
func TestReadmeQuickStart(t *testing.T) {
	cmds := quickStart(t)
	if r := runMini(t, "cluster", "list"); strings.Contains(r.Stdout, "\ndemo ") {
		t.Skip("a cluster named demo exists on this machine; the quick start would replace it")
	}
	if l, err := net.Listen("tcp", "127.0.0.1:8080"); err != nil {
		t.Skipf("127.0.0.1:8080, which the quick start publishes, is taken here: %v", err)
	} else {
		l.Close()
	}
	clone := filepath.Join(t.TempDir(), "mini")
	if r := run(t, 2*time.Minute, nil, "git", "clone", "-q", repoRoot, clone); r.Code != 0 {
		t.Fatalf("git clone %s: %s", repoRoot, r)
	}
	t.Cleanup(func() { deleteCluster(t, "demo") })
	var curl string
	for _, c := range cmds {
		r := run(t, 15*time.Minute, nil, "bash", "-c", "cd "+clone+" && "+c)
		t.Logf("$ %s\n%s%s", c, r.Stdout, r.Stderr)
		if r.Code != 0 {
			t.Fatalf("README quick start: %q: want exit 0, got %s", c, r)
		}
		if strings.HasPrefix(c, "curl ") {
			curl += r.Stdout
		}
	}
	if !strings.Contains(curl, "pod=echo-") {
		t.Errorf("the quick start's curl should be answered by an echo pod (pod=echo-...), got %q", curl)
	}
	if left := leftovers(t, "demo"); left != "" {
		t.Errorf("after the quick start's last command these objects of cluster demo remain:\n%s", left)
	}
}
