package api

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// printNow is the clock of the printer tests; objects are an hour old.
var printNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(printNow.Add(-d)) }

func objMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: ago(time.Hour)}
}

// rowCase is an object and the cells its printer must give.
type rowCase struct {
	name string
	obj  runtime.Object
	want []any
}

// runRows checks tableDefs[kind] rows, cell by cell (types included: kubectl
// prints integer cells from JSON numbers).
func runRows(t *testing.T, kind string, cases []rowCase) {
	t.Helper()
	def := tableDefs[kind]
	if def == nil {
		t.Fatalf("no printer for %s", kind)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := def.Row(c.obj, printNow)
			if len(got) != len(def.Columns) {
				t.Fatalf("%s row has %d cells for %d columns: %#v", kind, len(got), len(def.Columns), got)
			}
			if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", c.want) {
				t.Errorf("%s %s:\nwant %#v\n got %#v", kind, c.name, c.want, got)
			}
		})
	}
}

// headers renders a printer's columns as kubectl shows them, "|" before
// the first -o wide column.
func headers(def *TableDef) string {
	var normal, wide []string
	for _, c := range def.Columns {
		if c.Priority == 0 {
			normal = append(normal, strings.ToUpper(c.Name))
		} else {
			wide = append(wide, strings.ToUpper(c.Name))
		}
	}
	s := strings.Join(normal, " ")
	if len(wide) > 0 {
		s += " | " + strings.Join(wide, " ")
	}
	return s
}

func TestPrinterColumns(t *testing.T) {
	want := map[string]string{
		"Pod":                "NAME READY STATUS RESTARTS AGE | IP NODE NOMINATED NODE READINESS GATES",
		"Deployment":         "NAME READY UP-TO-DATE AVAILABLE AGE | CONTAINERS IMAGES SELECTOR",
		"ReplicaSet":         "NAME DESIRED CURRENT READY AGE | CONTAINERS IMAGES SELECTOR",
		"StatefulSet":        "NAME READY AGE | CONTAINERS IMAGES",
		"DaemonSet":          "NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE | CONTAINERS IMAGES SELECTOR",
		"Job":                "NAME STATUS COMPLETIONS DURATION AGE | CONTAINERS IMAGES SELECTOR",
		"Service":            "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE | SELECTOR",
		"Endpoints":          "NAME ENDPOINTS AGE",
		"EndpointSlice":      "NAME ADDRESSTYPE PORTS ENDPOINTS AGE",
		"Node":               "NAME STATUS ROLES AGE VERSION | INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION CONTAINER-RUNTIME",
		"Namespace":          "NAME STATUS AGE",
		"ConfigMap":          "NAME DATA AGE",
		"Secret":             "NAME TYPE DATA AGE",
		"ServiceAccount":     "NAME SECRETS AGE",
		"Event":              "LAST SEEN TYPE REASON OBJECT MESSAGE | SUBOBJECT SOURCE FIRST SEEN COUNT NAME",
		"Lease":              "NAME HOLDER AGE",
		"Ingress":            "NAME CLASS HOSTS ADDRESS PORTS AGE",
		"ControllerRevision": "NAME CONTROLLER REVISION AGE",
	}
	for _, r := range DefaultResources() {
		w, ok := want[r.Kind]
		if !ok {
			t.Errorf("no expected columns for served kind %s", r.Kind)
			continue
		}
		if r.Table == nil {
			t.Errorf("%s has no printer", r.Kind)
			continue
		}
		if got := headers(r.Table); got != w {
			t.Errorf("%s columns:\nwant %s\n got %s", r.Kind, w, got)
		}
		for _, c := range r.Table.Columns {
			if (c.Name == "Name") != (c.Format == "name") || c.Description == "" {
				t.Errorf("%s column %q: format %q, description %q", r.Kind, c.Name, c.Format, c.Description)
			}
		}
	}
}

func running() corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(time.Hour)}}
}

func waiting(reason string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
}

func terminated(reason string, code, signal int32) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: code, Signal: signal}}
}

// pod builds a pod with n containers and the given statuses.
func pod(n int, phase corev1.PodPhase, statuses ...corev1.ContainerStatus) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: objMeta("p"), Status: corev1.PodStatus{Phase: phase, ContainerStatuses: statuses}}
	for i := 0; i < n; i++ {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i)})
	}
	return p
}

func withInit(p *corev1.Pod, sidecar bool, statuses ...corev1.ContainerStatus) *corev1.Pod {
	for i := range statuses {
		c := corev1.Container{Name: fmt.Sprintf("i%d", i)}
		if sidecar && i == len(statuses)-1 {
			c.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
		}
		p.Spec.InitContainers = append(p.Spec.InitContainers, c)
		statuses[i].Name = c.Name
	}
	p.Status.InitContainerStatuses = statuses
	return p
}

func modPod(p *corev1.Pod, mod func(p *corev1.Pod)) *corev1.Pod {
	mod(p)
	return p
}

func ready(s corev1.ContainerState) corev1.ContainerStatus {
	return corev1.ContainerStatus{Ready: true, State: s}
}

func notReady(s corev1.ContainerState) corev1.ContainerStatus {
	return corev1.ContainerStatus{State: s}
}

func restarted(s corev1.ContainerStatus, n int32, lastFinished time.Duration) corev1.ContainerStatus {
	s.RestartCount = n
	s.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{FinishedAt: ago(lastFinished)}
	return s
}

func podRow(ready, status, restarts string) []any {
	return []any{"p", ready, status, restarts, "60m", "<none>", "<none>", "<none>", "<none>"}
}

func TestPodRows(t *testing.T) {
	deleting := metav1.NewTime(printNow)
	readyCond := corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue}
	runRows(t, "Pod", []rowCase{
		{"running", pod(2, corev1.PodRunning, ready(running()), ready(running())), podRow("2/2", "Running", "0")},
		{"pending", pod(1, corev1.PodPending), podRow("0/1", "Pending", "0")},
		{"creating", pod(1, corev1.PodPending, notReady(waiting("ContainerCreating"))), podRow("0/1", "ContainerCreating", "0")},
		{"crash loop with restarts", pod(2, corev1.PodRunning, ready(running()), restarted(notReady(waiting("CrashLoopBackOff")), 5, 3*time.Minute)),
			podRow("1/2", "CrashLoopBackOff", "5 (3m ago)")},
		{"restarts without last termination", pod(1, corev1.PodRunning, corev1.ContainerStatus{Ready: true, State: running(), RestartCount: 2}),
			podRow("1/1", "Running", "2")},
		{"first container's reason wins", pod(2, corev1.PodPending, notReady(waiting("ImagePullBackOff")), notReady(waiting("ErrImagePull"))),
			podRow("0/2", "ImagePullBackOff", "0")},
		{"completed", pod(1, corev1.PodSucceeded, notReady(terminated("Completed", 0, 0))), podRow("0/1", "Completed", "0")},
		{"error exit code", pod(1, corev1.PodFailed, notReady(terminated("", 1, 0))), podRow("0/1", "ExitCode:1", "0")},
		{"killed by signal", pod(1, corev1.PodFailed, notReady(terminated("", 137, 9))), podRow("0/1", "Signal:9", "0")},
		{"completed but one still runs, ready", modPod(pod(2, corev1.PodRunning, notReady(terminated("Completed", 0, 0)), ready(running())),
			func(p *corev1.Pod) { p.Status.Conditions = []corev1.PodCondition{readyCond} }), podRow("1/2", "Running", "0")},
		{"completed but one still runs, not ready", pod(2, corev1.PodRunning, notReady(terminated("Completed", 0, 0)), ready(running())),
			podRow("1/2", "NotReady", "0")},
		{"evicted", modPod(pod(1, corev1.PodFailed), func(p *corev1.Pod) { p.Status.Reason = "Evicted" }), podRow("0/1", "Evicted", "0")},
		{"scheduling gated", modPod(pod(1, corev1.PodPending), func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Reason: corev1.PodReasonSchedulingGated}}
		}), podRow("0/1", "SchedulingGated", "0")},
		{"terminating", modPod(pod(1, corev1.PodRunning, ready(running())), func(p *corev1.Pod) { p.DeletionTimestamp = &deleting }),
			podRow("1/1", "Terminating", "0")},
		{"terminating after success", modPod(pod(1, corev1.PodSucceeded, notReady(terminated("Completed", 0, 0))),
			func(p *corev1.Pod) { p.DeletionTimestamp = &deleting }), podRow("0/1", "Completed", "0")},
		{"node lost", modPod(pod(1, corev1.PodRunning, ready(running())), func(p *corev1.Pod) { p.Status.Reason = nodeUnreachablePodReason }),
			podRow("1/1", "NodeLost", "0")},
		{"node lost and deleted", modPod(pod(1, corev1.PodRunning, ready(running())), func(p *corev1.Pod) {
			p.Status.Reason, p.DeletionTimestamp = nodeUnreachablePodReason, &deleting
		}), podRow("1/1", "Unknown", "0")},
		{"init 1 of 2", withInit(pod(1, corev1.PodPending, notReady(waiting("PodInitializing"))), false,
			notReady(terminated("Completed", 0, 0)), notReady(running())), podRow("0/1", "Init:1/2", "0")},
		{"init waiting PodInitializing", withInit(pod(1, corev1.PodPending), false, notReady(waiting("PodInitializing"))),
			podRow("0/1", "Init:0/1", "0")},
		{"init crash loop", withInit(pod(1, corev1.PodPending), false, restarted(notReady(waiting("CrashLoopBackOff")), 3, 10*time.Second)),
			podRow("0/1", "Init:CrashLoopBackOff", "3 (10s ago)")},
		{"init error", withInit(pod(1, corev1.PodPending), false, notReady(terminated("Error", 2, 0))), podRow("0/1", "Init:Error", "0")},
		{"init exit code", withInit(pod(1, corev1.PodPending), false, notReady(terminated("", 2, 0))), podRow("0/1", "Init:ExitCode:2", "0")},
		{"init signal", withInit(pod(1, corev1.PodPending), false, notReady(terminated("", 143, 15))), podRow("0/1", "Init:Signal:15", "0")},
		{"sidecar running", withInit(pod(1, corev1.PodRunning, restarted(ready(running()), 1, 2*time.Hour)), true,
			notReady(terminated("Completed", 0, 0)), func() corev1.ContainerStatus {
				s := restarted(ready(running()), 2, 5*time.Minute)
				s.Started = ptr(true)
				return s
			}()), podRow("2/2", "Running", "3 (5m ago)")},
		{"wide", modPod(pod(1, corev1.PodRunning, ready(running())), func(p *corev1.Pod) {
			p.Spec.NodeName = "n1"
			p.Status.PodIPs = []corev1.PodIP{{IP: "10.244.1.5"}}
			p.Status.NominatedNodeName = "n2"
			p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "a"}, {ConditionType: "b"}}
			p.Status.Conditions = []corev1.PodCondition{{Type: "a", Status: corev1.ConditionTrue}, {Type: "b", Status: corev1.ConditionFalse}}
		}), []any{"p", "1/1", "Running", "0", "60m", "10.244.1.5", "n1", "n2", "1/2"}},
	})
}

// BenchmarkPodRow measures one pod row (kubectl get pods prints one per pod).
func BenchmarkPodRow(b *testing.B) {
	p := withInit(pod(2, corev1.PodRunning, ready(running()), restarted(ready(running()), 2, time.Minute)), false,
		notReady(terminated("Completed", 0, 0)))
	b.ReportAllocs()
	for b.Loop() {
		podTable.Row(p, printNow)
	}
}
