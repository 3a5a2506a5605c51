package sim

import (
	"github.com/minicluster/mini/node/heartbeat"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestIPPool(t *testing.T) {
	p, err := newIPPool("10.244.3.0/29") // hosts .2 … .6
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := 0; i < 5; i++ {
		ip, err := p.allocate()
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		got = append(got, ip)
	}
	if want := "10.244.3.2 10.244.3.3 10.244.3.4 10.244.3.5 10.244.3.6"; strings.Join(got, " ") != want {
		t.Errorf("allocated %v, want %s", got, want)
	}
	if ip, err := p.allocate(); err == nil {
		t.Errorf("a full /29 handed out %s, want an exhaustion error", ip)
	}
	p.release("10.244.3.4")
	p.release("10.244.3.4")  // twice: ignored
	p.release("192.168.0.1") // foreign: ignored
	if ip, err := p.allocate(); err != nil || ip != "10.244.3.4" {
		t.Errorf("after releasing .4 got %q, %v; want 10.244.3.4", ip, err)
	}
	if p.claim("10.244.3.4") || p.claim("10.244.3.1") || p.claim("10.244.4.2") {
		t.Error("claim accepted a used, gateway or foreign address")
	}
	p.release("10.244.3.6")
	if !p.claim("10.244.3.6") {
		t.Error("claim refused a free address")
	}
}

func TestIPPoolReusesLateAndRejectsBadCIDRs(t *testing.T) {
	p, _ := newIPPool("10.244.0.0/24")
	a, _ := p.allocate()
	p.release(a)
	b, _ := p.allocate()
	if a == b {
		t.Errorf("a released address %s was handed out again at once; want the cursor to move on", a)
	}
	for _, bad := range []string{"", "10.244.0.0", "fd00::/64", "10.0.0.0/8", "10.0.0.0/30"} {
		if _, err := newIPPool(bad); err == nil {
			t.Errorf("newIPPool(%q) succeeded, want an error", bad)
		}
	}
}

func TestNodeIPsAreDistinctWithinAPrefix(t *testing.T) {
	seen := map[string]int{}
	for i := 0; i < 1000; i++ {
		ip := nodeIP("sim", i)
		if !strings.HasPrefix(ip, "172.30.") {
			t.Fatalf("node %d IP %s outside 172.30.0.0/16", i, ip)
		}
		if j, dup := seen[ip]; dup {
			t.Fatalf("nodes %d and %d share IP %s", j, i, ip)
		}
		seen[ip] = i
	}
}

func TestDefaults(t *testing.T) {
	o := Options{Count: 2, Capacity: corev1.ResourceList{corev1.ResourceCPU: resourceMust("2")}}
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	if o.Prefix != "sim" || o.JobDuration != time.Second || o.ShutdownDelay != 100*time.Millisecond ||
		o.Heartbeat != (heartbeat.Timing{Interval: time.Second, LeaseDuration: 5 * time.Second}) {
		t.Errorf("defaults: prefix %q job %s shutdown %s heartbeat %s", o.Prefix, o.JobDuration, o.ShutdownDelay, o.Heartbeat)
	}
	cpu, mem, pods := o.Capacity[corev1.ResourceCPU], o.Capacity[corev1.ResourceMemory], o.Capacity[corev1.ResourcePods]
	if cpu.String() != "2" || mem.String() != "32Gi" || pods.String() != "110" {
		t.Errorf("capacity cpu %s memory %s pods %s, want 2, 32Gi, 110", cpu.String(), mem.String(), pods.String())
	}
	if err := (&Options{}).defaults(); err == nil {
		t.Error("Count 0 accepted")
	}
}

func TestStatuses(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1"},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "i:1"}, {Name: "side", Image: "s:1", RestartPolicy: &always}},
			Containers:     []corev1.Container{{Name: "a", Image: "a:1"}, {Name: "b", Image: "b:1"}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}},
	}
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	st := runningStatus(p, "172.30.0.1", "10.244.0.2", t0)
	if st.Phase != corev1.PodRunning || st.PodIP != "10.244.0.2" || st.HostIP != "172.30.0.1" || len(st.PodIPs) != 1 || st.StartTime == nil {
		t.Errorf("running status: phase %s podIP %s hostIP %s podIPs %v start %v", st.Phase, st.PodIP, st.HostIP, st.PodIPs, st.StartTime)
	}
	conds := map[corev1.PodConditionType]corev1.ConditionStatus{}
	for _, c := range st.Conditions {
		conds[c.Type] = c.Status
	}
	for _, ct := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady, corev1.PodReadyToStartContainers} {
		if conds[ct] != corev1.ConditionTrue {
			t.Errorf("condition %s = %q, want True (all: %v)", ct, conds[ct], conds)
		}
	}
	if len(st.ContainerStatuses) != 2 || st.ContainerStatuses[1].ContainerID != "sim://u1/b" || !st.ContainerStatuses[1].Ready ||
		st.ContainerStatuses[1].State.Running == nil || st.ContainerStatuses[1].ImageID != "sim://b:1" {
		t.Errorf("container statuses %+v", st.ContainerStatuses)
	}
	if ics := st.InitContainerStatuses; len(ics) != 2 || ics[0].State.Terminated == nil || ics[0].State.Terminated.Reason != "Completed" || ics[1].State.Running == nil {
		t.Errorf("init container statuses %+v: want init terminated Completed, sidecar running", ics)
	}

	p.Status = st
	done := completedStatus(p, &podRecord{started: t0}, t0.Add(time.Second))
	if done.Phase != corev1.PodSucceeded {
		t.Errorf("completed phase %s", done.Phase)
	}
	for _, cs := range append(done.ContainerStatuses, done.InitContainerStatuses...) {
		term := cs.State.Terminated
		if term == nil || term.ExitCode != 0 || term.Reason != "Completed" || cs.Ready {
			t.Errorf("container %s after completion: %+v ready %v", cs.Name, cs.State, cs.Ready)
		}
	}
	for _, c := range done.Conditions {
		if c.Type == corev1.PodReady && (c.Status != corev1.ConditionFalse || c.Reason != "PodCompleted") {
			t.Errorf("Ready after completion: %+v", c)
		}
	}
}

func resourceMust(s string) resource.Quantity { return resource.MustParse(s) }
