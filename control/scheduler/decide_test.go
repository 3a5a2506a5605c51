package scheduler

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestNumFeasibleNodesToFind(t *testing.T) {
	cases := []struct{ nodes, pct, want int }{
		{5, 0, 5},
		{99, 0, 99},
		{100, 0, 100},     // 50% of 100 is below the 100 floor
		{1000, 0, 420},    // 50 - 1000/125 = 42%
		{5000, 0, 500},    // 50 - 40 = 10%
		{10000, 0, 500},   // 50 - 80 < 5 → 5%
		{1000, 10, 100},   // explicit, floored
		{1000, 100, 1000}, // everything
	}
	for _, tc := range cases {
		if got := numFeasibleNodesToFind(tc.nodes, tc.pct); got != tc.want {
			t.Errorf("numFeasibleNodesToFind(%d, %d) = %d, want %d", tc.nodes, tc.pct, got, tc.want)
		}
	}
}

func TestFitErrorMessage(t *testing.T) {
	cases := []struct {
		err  fitError
		want string
	}{
		{fitError{}, "no nodes available to schedule pods"},
		{fitError{numNodes: 5, reasons: map[string]int{"Insufficient cpu": 2, "node(s) had untolerated taint {a: b}": 3}},
			"0/5 nodes are available: 2 Insufficient cpu, 3 node(s) had untolerated taint {a: b}."},
		{fitError{numNodes: 3, reasons: map[string]int{"Too many pods": 1, "Insufficient memory": 1, "Insufficient cpu": 3}},
			"0/3 nodes are available: 1 Insufficient memory, 1 Too many pods, 3 Insufficient cpu."},
	}
	for _, tc := range cases {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("message = %q, want %q", got, tc.want)
		}
	}
}

func TestScores(t *testing.T) {
	spread := []struct {
		count, max int
		want       int64
	}{{0, 0, 100}, {0, 1, 100}, {1, 1, 0}, {1, 2, 50}, {2, 3, 33}}
	for _, tc := range spread {
		if got := spreadScore(tc.count, tc.max); got != tc.want {
			t.Errorf("spreadScore(%d, %d) = %d, want %d", tc.count, tc.max, got, tc.want)
		}
	}
	least := []struct {
		name  string
		bound []*corev1.Pod
		pod   *corev1.Pod
		want  int64
	}{
		{"empty node, small pod", nil, pod("p", "1", "1Gi"), (75 + 75) / 2},
		{"half used", []*corev1.Pod{pod("a", "1", "2Gi")}, pod("p", "1", "1Gi"), (50 + 25) / 2},
		{"no requests counts the defaults", nil, pod("p", "", ""), (97 + 95) / 2},
		{"over capacity scores zero", []*corev1.Pod{pod("a", "4", "")}, pod("p", "1", "1Gi"), (0 + 70) / 2},
	}
	for _, tc := range least {
		t.Run(tc.name, func(t *testing.T) {
			n := infoOf(node("n", "4", "4Gi", 110), tc.bound...)
			if got := leastAllocatedScore(newPodInfo(tc.pod), n); got != tc.want {
				t.Errorf("leastAllocatedScore = %d, want %d", got, tc.want)
			}
		})
	}
}

// newTestCache returns a cache with the given nodes.
func newTestCache(nodes ...*corev1.Node) *cache {
	c := newCache()
	for _, n := range nodes {
		c.setNode(n)
	}
	return c
}

func mustSchedule(t *testing.T, c *cache, p *corev1.Pod) string {
	t.Helper()
	name, ferr := c.schedule(newPodInfo(p), 0)
	if ferr != nil {
		t.Fatalf("pod %s did not fit: %v", p.Name, ferr)
	}
	return name
}

func TestAssumedPodsCountBeforeTheInformerSeesThem(t *testing.T) {
	c := newTestCache(node("n1", "2", "8Gi", 110))
	for i := 0; i < 2; i++ {
		if got := mustSchedule(t, c, pod(fmt.Sprint("p", i), "1", "")); got != "n1" {
			t.Fatalf("pod %d went to %q, want n1", i, got)
		}
	}
	third := pod("p2", "1", "")
	_, ferr := c.schedule(newPodInfo(third), 0)
	if ferr == nil {
		t.Fatal("a third 1-cpu pod fitted on a 2-cpu node holding two assumed 1-cpu pods")
	}
	if got, want := ferr.Error(), "0/1 nodes are available: 1 Insufficient cpu."; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
}

func TestForgetReleasesAndConfirmDoesNotDoubleCount(t *testing.T) {
	c := newTestCache(node("n1", "2", "8Gi", 110))
	a, b := pod("a", "1", ""), pod("b", "1", "")
	mustSchedule(t, c, a)
	mustSchedule(t, c, b)
	c.forget(b.UID) // binding b failed
	if !c.isAssumed(a.UID) || c.isAssumed(b.UID) {
		t.Fatalf("after forget(b): assumed a=%v b=%v, want true false", c.isAssumed(a.UID), c.isAssumed(b.UID))
	}
	bound := a.DeepCopy()
	bound.Spec.NodeName = "n1"
	c.addPod(newPodInfo(bound), "n1") // the informer confirms a
	c.forget(a.UID)                   // a late failure report must not undo a confirmed pod
	if c.isAssumed(a.UID) {
		t.Error("a is still assumed after the informer confirmed it")
	}
	if got := c.nodes["n1"].requested.milliCPU; got != 1000 {
		t.Errorf("requested cpu on n1 = %dm, want 1000m (a counted once, b released)", got)
	}
	mustSchedule(t, c, b) // b fits again
	c.removePod(a.UID)
	c.removePod(b.UID)
	if got := c.nodes["n1"].requested.milliCPU; got != 0 || len(c.nodes["n1"].pods) != 0 {
		t.Errorf("after removing both pods: requested %dm, %d pods; want 0, 0", got, len(c.nodes["n1"].pods))
	}
}

func TestReplicasSpreadAcrossNodes(t *testing.T) {
	var nodes []*corev1.Node
	for i := 0; i < 5; i++ {
		nodes = append(nodes, node(fmt.Sprint("n", i), "8", "32Gi", 110))
	}
	c := newTestCache(nodes...)
	// Another controller's pods weigh on n0 and n1, but spreading wins.
	c.addPod(newPodInfo(pod("x", "2", "", ownedBy("other"))), "n0")
	c.addPod(newPodInfo(pod("y", "2", "", ownedBy("other"))), "n1")
	per := map[string]int{}
	for i := 0; i < 10; i++ {
		per[mustSchedule(t, c, pod(fmt.Sprint("web-", i), "100m", "128Mi", ownedBy("rs-web")))]++
	}
	for _, n := range nodes {
		if per[n.Name] != 2 {
			t.Errorf("10 replicas on 5 nodes: %v, want 2 on each", per)
			break
		}
	}
}

func TestLeastAllocatedPicksTheEmptierNode(t *testing.T) {
	c := newTestCache(node("busy", "4", "8Gi", 110), node("idle", "4", "8Gi", 110))
	c.addPod(newPodInfo(pod("x", "3", "6Gi")), "busy")
	if got := mustSchedule(t, c, pod("p", "500m", "")); got != "idle" {
		t.Errorf("pod went to %s, want idle", got)
	}
}

func TestFailureCountsEveryNode(t *testing.T) {
	c := newTestCache(
		node("a", "1", "1Gi", 110), node("b", "1", "1Gi", 110),
		node("c", "8", "8Gi", 110, withTaint("dedicated", "db", corev1.TaintEffectNoSchedule)),
		node("d", "8", "8Gi", 110, withTaint("dedicated", "db", corev1.TaintEffectNoSchedule)),
		node("e", "8", "8Gi", 110, func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }),
	)
	_, ferr := c.schedule(newPodInfo(pod("big", "2", "")), 0)
	want := "0/5 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 2 Insufficient cpu, 2 node(s) had untolerated taint {dedicated: db}."
	if ferr == nil || ferr.Error() != want {
		t.Errorf("failure = %v, want %q", ferr, want)
	}
}

func TestLargeClusterScansRoundRobin(t *testing.T) {
	var nodes []*corev1.Node
	for i := 0; i < 1000; i++ {
		nodes = append(nodes, node(fmt.Sprintf("n%04d", i), "8", "32Gi", 110))
	}
	c := newTestCache(nodes...)
	used := map[string]bool{}
	for i := 0; i < 3000; i++ {
		used[mustSchedule(t, c, pod(fmt.Sprint("p", i), "10m", "", ownedBy(fmt.Sprint("rs", i%30))))] = true
	}
	if len(used) != 1000 {
		t.Errorf("3000 pods landed on %d of 1000 nodes, want all of them used", len(used))
	}
	for _, n := range c.order {
		if len(n.pods) > 4 {
			t.Errorf("node %s holds %d of 3000 pods on 1000 equal nodes, want at most 4", n.name, len(n.pods))
			break
		}
	}
}

func BenchmarkSchedule1000Nodes(b *testing.B) {
	var nodes []*corev1.Node
	for i := 0; i < 1000; i++ {
		nodes = append(nodes, node(fmt.Sprintf("n%04d", i), "8", "32Gi", 1<<20))
	}
	c := newTestCache(nodes...)
	pods := make([]*podInfo, 300)
	for i := range pods {
		pods[i] = newPodInfo(pod(fmt.Sprint("p", i), "", "", ownedBy(fmt.Sprint("rs", i))))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pi := *pods[i%len(pods)]
		pi.uid = types.UID(fmt.Sprint(i))
		if _, ferr := c.schedule(&pi, 0); ferr != nil {
			b.Fatal(ferr)
		}
	}
}
