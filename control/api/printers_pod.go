package api

import (
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// nodeUnreachablePodReason is the reason the node lifecycle controller
// gives pods of a lost node.
const nodeUnreachablePodReason = "NodeLost"

var podTable = &TableDef{
	Columns: []metav1.TableColumnDefinition{
		nameCol,
		col("Ready", "string", 0, "The aggregate readiness state of this pod for accepting traffic."),
		col("Status", "string", 0, "The aggregate status of the containers in this pod."),
		col("Restarts", "string", 0, "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
		ageCol,
		col("IP", "string", 1, corev1.PodStatus{}.SwaggerDoc()["podIP"]),
		col("Node", "string", 1, corev1.PodSpec{}.SwaggerDoc()["nodeName"]),
		col("Nominated Node", "string", 1, corev1.PodStatus{}.SwaggerDoc()["nominatedNodeName"]),
		col("Readiness Gates", "string", 1, corev1.PodSpec{}.SwaggerDoc()["readinessGates"]),
	},
	Row: func(obj runtime.Object, now time.Time) []any {
		p := obj.(*corev1.Pod)
		s := podStatusSummary(p)
		restarts := strconv.Itoa(s.restarts)
		if s.restarts != 0 && !s.lastRestart.IsZero() {
			restarts = fmt.Sprintf("%d (%s ago)", s.restarts, age(s.lastRestart, now))
		}
		ip := "<none>"
		if len(p.Status.PodIPs) > 0 {
			ip = p.Status.PodIPs[0].IP
		}
		return []any{p.Name, fmt.Sprintf("%d/%d", s.ready, s.total), s.reason, restarts, age(p.CreationTimestamp, now),
			ip, orNone(p.Spec.NodeName), orNone(p.Status.NominatedNodeName), readinessGates(p)}
	},
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// podSummary is what kubectl's pod row shows about containers.
type podSummary struct {
	ready, total int
	reason       string
	restarts     int
	lastRestart  metav1.Time
}

func isSidecar(c *corev1.Container) bool {
	return c != nil && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// podStatusSummary computes READY, STATUS and RESTARTS as Kubernetes's
// printPod does: the phase or reason, overridden by scheduling gates, the
// first unfinished init container ("Init:1/2", "Init:CrashLoopBackOff"),
// the last container with a waiting or terminated reason, "Completed" back
// to Running/NotReady while a container still runs, and Terminating or
// Unknown (lost node) while being deleted.
func podStatusSummary(p *corev1.Pod) podSummary {
	s := podSummary{total: len(p.Spec.Containers), reason: string(p.Status.Phase)}
	if p.Status.Reason != "" {
		s.reason = p.Status.Reason
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonSchedulingGated {
			s.reason = corev1.PodReasonSchedulingGated
		}
	}
	inits := map[string]*corev1.Container{}
	for i := range p.Spec.InitContainers {
		c := &p.Spec.InitContainers[i]
		inits[c.Name] = c
		if isSidecar(c) {
			s.total++
		}
	}
	initializing, sidecarRestarts, sidecarLast := summarizeInits(p, inits, &s)
	if !initializing || podInitialized(p) {
		s.restarts, s.lastRestart = sidecarRestarts, sidecarLast
		summarizeContainers(p, &s)
	}
	if p.DeletionTimestamp != nil && p.Status.Reason == nodeUnreachablePodReason {
		s.reason = "Unknown"
	} else if p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
		s.reason = "Terminating"
	}
	return s
}

// summarizeInits walks the init containers; it reports whether the pod is
// still initializing, and the restarts of sidecars (which keep counting
// after initialization).
func summarizeInits(p *corev1.Pod, inits map[string]*corev1.Container, s *podSummary) (bool, int, metav1.Time) {
	sidecarRestarts, sidecarLast := 0, metav1.Time{}
	for i, c := range p.Status.InitContainerStatuses {
		s.restarts += int(c.RestartCount)
		if t := c.LastTerminationState.Terminated; t != nil && s.lastRestart.Before(&t.FinishedAt) {
			s.lastRestart = t.FinishedAt
		}
		sidecar := isSidecar(inits[c.Name])
		if sidecar {
			sidecarRestarts += int(c.RestartCount)
			if t := c.LastTerminationState.Terminated; t != nil && sidecarLast.Before(&t.FinishedAt) {
				sidecarLast = t.FinishedAt
			}
		}
		switch {
		case c.State.Terminated != nil && c.State.Terminated.ExitCode == 0:
			continue
		case sidecar && c.Started != nil && *c.Started:
			if c.Ready {
				s.ready++
			}
			continue
		case c.State.Terminated != nil:
			t := c.State.Terminated
			switch {
			case t.Reason != "":
				s.reason = "Init:" + t.Reason
			case t.Signal != 0:
				s.reason = fmt.Sprintf("Init:Signal:%d", t.Signal)
			default:
				s.reason = fmt.Sprintf("Init:ExitCode:%d", t.ExitCode)
			}
		case c.State.Waiting != nil && c.State.Waiting.Reason != "" && c.State.Waiting.Reason != "PodInitializing":
			s.reason = "Init:" + c.State.Waiting.Reason
		default:
			s.reason = fmt.Sprintf("Init:%d/%d", i, len(p.Spec.InitContainers))
		}
		return true, sidecarRestarts, sidecarLast
	}
	return false, sidecarRestarts, sidecarLast
}

// summarizeContainers walks the regular containers from the last one, so
// the first container's reason wins.
func summarizeContainers(p *corev1.Pod, s *podSummary) {
	running := false
	for i := len(p.Status.ContainerStatuses) - 1; i >= 0; i-- {
		c := p.Status.ContainerStatuses[i]
		s.restarts += int(c.RestartCount)
		if t := c.LastTerminationState.Terminated; t != nil && s.lastRestart.Before(&t.FinishedAt) {
			s.lastRestart = t.FinishedAt
		}
		switch st := c.State; {
		case st.Waiting != nil && st.Waiting.Reason != "":
			s.reason = st.Waiting.Reason
		case st.Terminated != nil && st.Terminated.Reason != "":
			s.reason = st.Terminated.Reason
		case st.Terminated != nil && st.Terminated.Signal != 0:
			s.reason = fmt.Sprintf("Signal:%d", st.Terminated.Signal)
		case st.Terminated != nil:
			s.reason = fmt.Sprintf("ExitCode:%d", st.Terminated.ExitCode)
		case c.Ready && st.Running != nil:
			running = true
			s.ready++
		}
	}
	if s.reason == "Completed" && running {
		s.reason = "NotReady"
		if podConditionTrue(p, corev1.PodReady) {
			s.reason = "Running"
		}
	}
}

func podConditionTrue(p *corev1.Pod, t corev1.PodConditionType) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podInitialized(p *corev1.Pod) bool { return podConditionTrue(p, corev1.PodInitialized) }

// readinessGates renders "true/all" of the pod's readiness gates.
func readinessGates(p *corev1.Pod) string {
	if len(p.Spec.ReadinessGates) == 0 {
		return "<none>"
	}
	n := 0
	for _, g := range p.Spec.ReadinessGates {
		if podConditionTrue(p, g.ConditionType) {
			n++
		}
	}
	return fmt.Sprintf("%d/%d", n, len(p.Spec.ReadinessGates))
}
