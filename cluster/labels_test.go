package cluster

import (
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"demo", true}, {"a", true}, {"ci-42", true}, {strings.Repeat("a", MaxNameLen), true},
		{"", false}, {"Demo", false}, {"-x", false}, {"x-", false}, {"a_b", false}, {"a.b", false},
		{strings.Repeat("a", MaxNameLen+1), false},
	} {
		if err := ValidateName(tt.name); (err == nil) != tt.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestNames(t *testing.T) {
	got := []string{NetworkName("demo"), ControlName("demo"), LBName("demo"), DataVolume("demo"), NodeName("demo", 2), NodeVolume("demo", 2), ContextName("demo")}
	want := []string{"mini-demo", "mini-demo-control", "mini-demo-lb", "mini-demo-data", "mini-demo-node-2", "mini-demo-node-2-docker", "mini-demo"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("name %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestLabels(t *testing.T) {
	l := labels("demo", RoleNode, "op1", LabelNodeIndex, "3", LabelNodeMode, ModeUnprivileged)
	want := map[string]string{LabelCluster: "demo", LabelRole: RoleNode, LabelOp: "op1", LabelNodeIndex: "3", LabelNodeMode: ModeUnprivileged, LabelVersion: Version}
	if len(l) != len(want) {
		t.Fatalf("labels = %v, want %v", l, want)
	}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("label %s = %q, want %q", k, l[k], v)
		}
	}
	if _, ok := labels("demo", RoleLB, "")[LabelOp]; ok {
		t.Errorf("an empty op must not be labelled")
	}
	if i, ok := nodeIndex(l); !ok || i != 3 {
		t.Errorf("nodeIndex = %d, %v; want 3, true", i, ok)
	}
	for _, bad := range []map[string]string{{}, {LabelNodeIndex: "x"}, {LabelNodeIndex: "-1"}} {
		if _, ok := nodeIndex(bad); ok {
			t.Errorf("nodeIndex(%v) ok, want not ok", bad)
		}
	}
}

func TestClusterFilter(t *testing.T) {
	f := clusterFilter("demo", LabelRole, RoleNode)
	got := f.Get("label")
	want := map[string]bool{LabelCluster + "=demo": true, LabelRole + "=node": true}
	if len(got) != len(want) {
		t.Fatalf("filter labels = %v, want %v", got, want)
	}
	for _, g := range got {
		if !want[g] {
			t.Errorf("unexpected filter label %q", g)
		}
	}
	if all := clusterFilter("").Get("label"); len(all) != 1 || all[0] != LabelCluster {
		t.Errorf("filter of every cluster = %v, want [%s]", all, LabelCluster)
	}
}
