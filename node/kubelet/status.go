package kubelet

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minicluster/mini/node/runtime"
)

// Reasons of waiting containers and pod conditions, as the kubelet words
// them.
const (
	reasonPodInitializing     = "PodInitializing"
	reasonCrashLoopBackOff    = "CrashLoopBackOff"
	reasonErrImagePull        = "ErrImagePull"
	reasonImagePullBackOff    = "ImagePullBackOff"
	reasonErrImageNeverPull   = "ErrImageNeverPull"
	reasonCreateConfigError   = "CreateContainerConfigError"
	reasonCreateError         = "CreateContainerError"
	reasonRunContainerError   = "RunContainerError"
	reasonContainersNotReady  = "ContainersNotReady"
	reasonContainersNotInit   = "ContainersNotInitialized"
	reasonPodCompleted        = "PodCompleted"
	reasonReadinessGatesNotOK = "ReadinessGatesNotReady"
)

// probeState is what the probes say about a running container.
type probeState struct {
	started bool // the startup probe succeeded (or there is none)
	ready   bool // the readiness probe succeeds (or there is none)
}

// podView is everything a pod's status is computed from.
type podView struct {
	pod          *corev1.Pod
	state        *runtime.PodState
	podIP        string // the running sandbox's IP
	sandboxReady bool   // a sandbox runs with its network set up
	nodeIP       string
	// waiting says why a container is not running when Docker cannot
	// (image pull failures, back-off, configuration errors).
	waiting map[string]*corev1.ContainerStateWaiting
	probes  func(containerID string, spec *corev1.Container) probeState
	// message returns the termination message of an exited container.
	message func(c *runtime.Container, spec *corev1.Container) string
	now     time.Time
	// terminal forces a terminal phase (the pod is being deleted and all
	// its containers are stopped).
	terminal bool
}

// computeStatus returns the pod status the view shows, merged with the
// pod's current status (conditions owned by others, start time, QoS class).
func computeStatus(v podView) corev1.PodStatus {
	old := v.pod.Status
	st := corev1.PodStatus{QOSClass: old.QOSClass, NominatedNodeName: old.NominatedNodeName, StartTime: old.StartTime}
	if st.StartTime == nil {
		t := metav1.NewTime(v.now.Truncate(time.Second))
		st.StartTime = &t
	}
	hasInit := len(v.pod.Spec.InitContainers) > 0
	st.InitContainerStatuses = v.containerStatuses(v.pod.Spec.InitContainers, hasInit)
	st.ContainerStatuses = v.containerStatuses(v.pod.Spec.Containers, hasInit)
	st.Phase = podPhase(&v.pod.Spec, st.InitContainerStatuses, st.ContainerStatuses)
	if v.terminal {
		st.Phase = terminalPhase(st.Phase, st.ContainerStatuses)
	}
	if v.nodeIP != "" {
		st.HostIP, st.HostIPs = v.nodeIP, []corev1.HostIP{{IP: v.nodeIP}}
	}
	switch {
	case v.podIP != "":
		st.PodIP, st.PodIPs = v.podIP, []corev1.PodIP{{IP: v.podIP}}
	case st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed:
		st.PodIP, st.PodIPs = old.PodIP, old.PodIPs // a finished pod keeps its address
	}
	st.Conditions = mergeConditions(old.Conditions, podConditions(v, &st), v.now)
	return st
}

func (v podView) containerStatuses(specs []corev1.Container, hasInit bool) []corev1.ContainerStatus {
	if len(specs) == 0 {
		return nil
	}
	def := runtime.ReasonContainerCreating
	if hasInit {
		def = reasonPodInitializing
	}
	out := make([]corev1.ContainerStatus, 0, len(specs))
	for i := range specs {
		spec := &specs[i]
		s := corev1.ContainerStatus{Name: spec.Name, Image: spec.Image, Started: new(bool)}
		latest := v.state.Latest(spec.Name)
		waiting := v.waiting[spec.Name]
		if latest == nil {
			if waiting == nil {
				waiting = &corev1.ContainerStateWaiting{Reason: def}
			}
			s.State.Waiting = waiting
			out = append(out, s)
			continue
		}
		s.ContainerID, s.ImageID, s.RestartCount = runtime.ContainerID(latest.ID), latest.ImageID(), int32(latest.Attempt)
		s.State = v.state1(latest, spec)
		prev := v.state.Previous(spec.Name)
		if s.State.Terminated != nil && waiting != nil {
			// exited and not restarted yet (back-off): waiting, with the
			// exit as the last state
			s.LastTerminationState, s.State = s.State, corev1.ContainerState{Waiting: waiting}
		} else if prev != nil {
			if ps := v.state1(prev, spec); ps.Terminated != nil {
				s.LastTerminationState = ps
			}
		}
		if s.State.Running != nil {
			p := v.probes(latest.ID, spec)
			*s.Started, s.Ready = p.started, p.started && p.ready
		}
		out = append(out, s)
	}
	return out
}

// state1 is one container's state, with its termination message.
func (v podView) state1(c *runtime.Container, spec *corev1.Container) corev1.ContainerState {
	s := runtime.State(c.Inspect)
	if t := s.Terminated; t != nil && v.message != nil {
		if msg := v.message(c, spec); msg != "" {
			t.Message = msg
		}
	}
	return s
}

// podPhase is Kubernetes's getPhase: Pending until the init containers are
// done and every container has been started; Running while any runs or will
// be restarted; Succeeded or Failed once all stopped for good.
func podPhase(spec *corev1.PodSpec, init, regular []corev1.ContainerStatus) corev1.PodPhase {
	never := spec.RestartPolicy == corev1.RestartPolicyNever
	pendingInit := false
	for _, s := range init {
		failed := (s.State.Terminated != nil && s.State.Terminated.ExitCode != 0) ||
			(s.State.Waiting != nil && s.LastTerminationState.Terminated != nil && s.LastTerminationState.Terminated.ExitCode != 0)
		switch {
		case failed && never:
			return corev1.PodFailed
		case s.State.Terminated != nil && s.State.Terminated.ExitCode == 0:
		default:
			pendingInit = true
		}
	}
	var running, waiting, stopped, succeeded int
	for _, s := range regular {
		switch {
		case s.State.Running != nil:
			running++
		case s.State.Terminated != nil:
			stopped++
			if s.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case s.LastTerminationState.Terminated != nil:
			stopped++
		default:
			waiting++
		}
	}
	switch {
	case pendingInit || waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0 && stopped == len(regular):
		switch {
		case spec.RestartPolicy == corev1.RestartPolicyAlways:
			return corev1.PodRunning
		case stopped == succeeded:
			return corev1.PodSucceeded
		case never:
			return corev1.PodFailed
		}
		return corev1.PodRunning
	}
	return corev1.PodPending
}

// terminalPhase is the phase of a pod whose containers were all stopped
// for good (deletion): Succeeded if each exited 0, else Failed.
func terminalPhase(p corev1.PodPhase, regular []corev1.ContainerStatus) corev1.PodPhase {
	if p == corev1.PodSucceeded || p == corev1.PodFailed {
		return p
	}
	for _, s := range regular {
		t := s.State.Terminated
		if t == nil {
			t = s.LastTerminationState.Terminated
		}
		if t == nil || t.ExitCode != 0 {
			return corev1.PodFailed
		}
	}
	return corev1.PodSucceeded
}

// podConditions computes the conditions the kubelet owns.
func podConditions(v podView, st *corev1.PodStatus) []corev1.PodCondition {
	cond := func(t corev1.PodConditionType, ok bool, reason, msg string) corev1.PodCondition {
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, Reason: reason, Message: msg}
		if ok {
			c.Status, c.Reason, c.Message = corev1.ConditionTrue, "", ""
		}
		return c
	}
	done := st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed
	var notInit, notReady []string
	for _, s := range st.InitContainerStatuses {
		if s.State.Terminated == nil || s.State.Terminated.ExitCode != 0 {
			notInit = append(notInit, s.Name)
		}
	}
	for _, s := range st.ContainerStatuses {
		if !s.Ready {
			notReady = append(notReady, s.Name)
		}
	}
	initialized := cond(corev1.PodInitialized, len(notInit) == 0, reasonContainersNotInit, unfinished("incomplete", notInit))
	ready := cond(corev1.ContainersReady, len(notReady) == 0, reasonContainersNotReady, unfinished("unready", notReady))
	if done {
		ready = cond(corev1.ContainersReady, false, reasonPodCompleted, "")
		if len(notInit) == 0 {
			initialized.Reason = reasonPodCompleted
		}
	}
	podReady := ready
	podReady.Type = corev1.PodReady
	if podReady.Status == corev1.ConditionTrue {
		if missing := unmetGates(v.pod); missing != "" {
			podReady = cond(corev1.PodReady, false, reasonReadinessGatesNotOK, missing)
		}
	}
	return []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, v.sandboxReady, "", ""),
		initialized, podReady, ready,
	}
}

func unfinished(what string, names []string) string {
	if len(names) == 0 {
		return ""
	}
	return fmt.Sprintf("containers with %s status: [%s]", what, strings.Join(names, " "))
}

// unmetGates describes the pod's readiness gates whose condition is not
// True ("" when all are met).
func unmetGates(pod *corev1.Pod) string {
	var msgs []string
	for _, g := range pod.Spec.ReadinessGates {
		found := false
		for _, c := range pod.Status.Conditions {
			if c.Type == g.ConditionType {
				found = true
				if c.Status != corev1.ConditionTrue {
					msgs = append(msgs, fmt.Sprintf("the status of pod readiness gate %q is not \"True\", but %v", g.ConditionType, c.Status))
				}
			}
		}
		if !found {
			msgs = append(msgs, fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", g.ConditionType))
		}
	}
	return strings.Join(msgs, ", ")
}

// mergeConditions puts the computed conditions over the existing ones:
// conditions of other types (PodScheduled, readiness gates) are kept, and a
// condition whose status did not change keeps its transition time.
func mergeConditions(old, computed []corev1.PodCondition, now time.Time) []corev1.PodCondition {
	t := metav1.NewTime(now.Truncate(time.Second))
	mine := map[corev1.PodConditionType]bool{}
	out := make([]corev1.PodCondition, 0, len(old)+len(computed))
	for _, c := range computed {
		mine[c.Type] = true
		c.LastTransitionTime = t
		for _, o := range old {
			if o.Type == c.Type && o.Status == c.Status {
				c.LastTransitionTime = o.LastTransitionTime
				c.LastProbeTime = o.LastProbeTime
			}
		}
		out = append(out, c)
	}
	for _, o := range old {
		if !mine[o.Type] {
			out = append(out, o)
		}
	}
	order := map[corev1.PodConditionType]int{corev1.PodReadyToStartContainers: 0, corev1.PodInitialized: 1,
		corev1.PodReady: 2, corev1.ContainersReady: 3, corev1.PodScheduled: 4}
	sort.SliceStable(out, func(i, j int) bool {
		oi, ok := order[out[i].Type]
		if !ok {
			oi = 5
		}
		oj, ok := order[out[j].Type]
		if !ok {
			oj = 5
		}
		return oi < oj
	})
	return out
}
