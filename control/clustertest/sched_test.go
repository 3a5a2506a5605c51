package clustertest

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/node/sim"
)

func barePod(name, cpu string, mods ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"test": "bare"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1"}}},
	}
	if cpu != "" {
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

func create(t *testing.T, c *client.Client, objs ...runtime.Object) {
	t.Helper()
	for _, o := range objs {
		if err := c.Create(context.Background(), o); err != nil {
			t.Fatalf("create %T: %v", o, err)
		}
	}
}

func getPod(t *testing.T, c *Cluster, name string) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{}
	if err := c.Client.Get(context.Background(), "default", name, p); err != nil {
		t.Fatalf("get pod %s: %v", name, err)
	}
	return p
}

func nodeByName(t *testing.T, c *Cluster, name string) *corev1.Node {
	t.Helper()
	n := &corev1.Node{}
	if err := c.Client.Get(context.Background(), "", name, n); err != nil {
		t.Fatalf("get node %s: %v", name, err)
	}
	return n
}

func TestBarePodsScheduledSpreadAndRunning(t *testing.T) {
	c := Start(t, Options{Nodes: 5})
	for i := 0; i < 10; i++ {
		create(t, c.Client, barePod(fmt.Sprint("p", i), "1"))
	}
	var pods []corev1.Pod
	WaitFor(t, 10*time.Second, "10 pods Running and Ready", func() (bool, string) {
		pods = c.Pods(t, "default", "test=bare")
		for i := range pods {
			if !PodReady(&pods[i]) {
				return false, Summary(pods)
			}
		}
		return len(pods) == 10, Summary(pods)
	})
	perNode := map[string]int{}
	ips := map[string]string{}
	for _, p := range pods {
		perNode[p.Spec.NodeName]++
		n := nodeByName(t, c, p.Spec.NodeName)
		cidr := netip.MustParsePrefix(n.Spec.PodCIDR)
		if ip, err := netip.ParseAddr(p.Status.PodIP); err != nil || !cidr.Contains(ip) {
			t.Errorf("pod %s has IP %q, want one in node %s's pod CIDR %s", p.Name, p.Status.PodIP, n.Name, cidr)
		}
		if other, dup := ips[p.Status.PodIP]; dup {
			t.Errorf("pods %s and %s share IP %s", p.Name, other, p.Status.PodIP)
		}
		ips[p.Status.PodIP] = p.Name
		if p.Status.HostIP != n.Status.Addresses[0].Address {
			t.Errorf("pod %s hostIP %q, want node %s's InternalIP %q", p.Name, p.Status.HostIP, n.Name, n.Status.Addresses[0].Address)
		}
		if len(p.Spec.Containers) != 1 || p.Spec.Containers[0].Image != "example.com/app:1" {
			t.Errorf("pod %s spec.containers %+v after its node's status writes, want the one app container unchanged", p.Name, p.Spec.Containers)
		}
		cs := p.Status.ContainerStatuses
		if len(cs) != 1 || !cs[0].Ready || cs[0].State.Running == nil || !strings.HasPrefix(cs[0].ContainerID, "sim://") || p.Status.StartTime == nil {
			t.Errorf("pod %s container statuses %+v start %v, want one running, ready sim:// container and a start time", p.Name, cs, p.Status.StartTime)
		}
		if ev := c.Events(t, "default", p.Name, "Scheduled"); len(ev) == 0 {
			WaitFor(t, 5*time.Second, "a Scheduled event for "+p.Name, func() (bool, string) {
				ev = c.Events(t, "default", p.Name, "Scheduled")
				return len(ev) > 0, fmt.Sprint(ev)
			})
		} else if want := fmt.Sprintf("Successfully assigned default/%s to %s", p.Name, p.Spec.NodeName); ev[0] != want {
			t.Errorf("Scheduled event %q, want %q", ev[0], want)
		}
	}
	for i := 0; i < 5; i++ {
		if n := perNode[fmt.Sprint("node-", i)]; n != 2 {
			t.Errorf("10 one-cpu pods on 5 equal nodes: %v, want 2 per node", perNode)
			break
		}
	}
}

func TestUnschedulablePodWaitsForANodeThatFits(t *testing.T) {
	small := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
	c := Start(t, Options{Nodes: 2, Prefix: "small", Sim: sim.Options{Capacity: small}})
	create(t, c.Client, barePod("big", "4"))
	want := "0/2 nodes are available: 2 Insufficient cpu."
	WaitFor(t, 10*time.Second, "PodScheduled=False Unschedulable on pod big", func() (bool, string) {
		p := getPod(t, c, "big")
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled {
				return cond.Status == corev1.ConditionFalse && cond.Reason == "Unschedulable" && cond.Message == want, fmt.Sprintf("%+v", cond)
			}
		}
		return false, "no PodScheduled condition"
	})
	WaitFor(t, 5*time.Second, "a FailedScheduling event", func() (bool, string) {
		ev := c.Events(t, "default", "big", "FailedScheduling")
		return len(ev) > 0 && ev[0] == want, fmt.Sprint(ev)
	})
	c.AddNodes("large", 1, func(o *sim.Options) { o.Capacity = nil }).WaitReady(t, 10*time.Second)
	WaitFor(t, 10*time.Second, "pod big Running on large-0 after that node joined", func() (bool, string) {
		p := getPod(t, c, "big")
		return p.Spec.NodeName == "large-0" && PodReady(p), p.Spec.NodeName + ":" + string(p.Status.Phase)
	})
}

func TestTaintsAndSelectorsSteerPods(t *testing.T) {
	c := Start(t, Options{Nodes: 3})
	ctx := context.Background()
	n := nodeByName(t, c, "node-0")
	n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}}
	n.Labels["disk"] = "ssd"
	if err := c.Client.Update(ctx, n); err != nil {
		t.Fatalf("taint node-0: %v", err)
	}
	time.Sleep(200 * time.Millisecond) // let the scheduler's watch see the taint
	for i := 0; i < 6; i++ {
		create(t, c.Client, barePod(fmt.Sprint("plain-", i), ""))
	}
	create(t, c.Client, barePod("db", "", func(p *corev1.Pod) {
		p.Spec.NodeSelector = map[string]string{"disk": "ssd"}
		p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "db", Effect: corev1.TaintEffectNoSchedule}}
	}))
	create(t, c.Client, barePod("nowhere", "", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }))
	WaitFor(t, 10*time.Second, "7 pods Running", func() (bool, string) {
		pods := c.Pods(t, "default", "")
		running := 0
		for i := range pods {
			if PodReady(&pods[i]) {
				running++
			}
		}
		return running == 7, Summary(pods)
	})
	for _, p := range c.Pods(t, "default", "") {
		switch {
		case p.Name == "db" && p.Spec.NodeName != "node-0":
			t.Errorf("pod db (tolerates the taint, selects disk=ssd) is on %q, want node-0", p.Spec.NodeName)
		case strings.HasPrefix(p.Name, "plain-") && p.Spec.NodeName == "node-0":
			t.Errorf("pod %s landed on tainted node-0", p.Name)
		case p.Name == "nowhere" && p.Spec.NodeName != "":
			t.Errorf("pod nowhere (selects disk=ssd, no toleration) was bound to %s", p.Spec.NodeName)
		}
	}
	want := "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 2 node(s) didn't match Pod's node affinity/selector."
	WaitFor(t, 5*time.Second, "pod nowhere reported unschedulable", func() (bool, string) {
		for _, cond := range getPod(t, c, "nowhere").Status.Conditions {
			if cond.Type == corev1.PodScheduled {
				return cond.Message == want, cond.Message
			}
		}
		return false, "no condition"
	})
}

func TestJobPodsCompleteAndDeletedPodsAreFinalized(t *testing.T) {
	c := Start(t, Options{Nodes: 1, Sim: sim.Options{JobDuration: 300 * time.Millisecond}})
	ctx := context.Background()
	create(t, c.Client, barePod("job", "", func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyNever }))
	create(t, c.Client, barePod("svc", ""))
	WaitFor(t, 10*time.Second, "pod job Succeeded with exit code 0", func() (bool, string) {
		p := getPod(t, c, "job")
		cs := p.Status.ContainerStatuses
		ok := p.Status.Phase == corev1.PodSucceeded && len(cs) == 1 && cs[0].State.Terminated != nil &&
			cs[0].State.Terminated.ExitCode == 0 && cs[0].State.Terminated.Reason == "Completed"
		return ok, fmt.Sprintf("%s %+v", p.Status.Phase, cs)
	})
	svc := getPod(t, c, "svc")
	if !PodReady(svc) {
		t.Fatalf("pod svc is %s, want Running and Ready", svc.Status.Phase)
	}
	start := time.Now()
	if err := c.Client.Delete(ctx, &corev1.Pod{}, "default", "svc", nil); err != nil {
		t.Fatalf("delete svc: %v", err)
	}
	WaitFor(t, 5*time.Second, "pod svc finalized by its node", func() (bool, string) {
		err := c.Client.Get(ctx, "default", "svc", &corev1.Pod{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a deleted pod (grace 30s) took %s to go; the simulated shutdown is 100ms", d)
	}
}
