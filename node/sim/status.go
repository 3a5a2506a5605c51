package sim

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// setCondition sets a pod condition, keeping its transition time when the
// status does not change.
func setCondition(st *corev1.PodStatus, t corev1.PodConditionType, status corev1.ConditionStatus, reason string, now metav1.Time) {
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if c.Type != t {
			continue
		}
		if c.Status != status {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message = status, reason, ""
		return
	}
	st.Conditions = append(st.Conditions, corev1.PodCondition{Type: t, Status: status, Reason: reason, LastTransitionTime: now})
}

func containerID(p *corev1.Pod, name string) string { return "sim://" + string(p.UID) + "/" + name }

func imageID(image string) string { return "sim://" + image }

func isSidecar(c corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// runningStatus is what a kubelet reports once all containers started:
// Running and Ready, with IPs, start time and one status per container.
func runningStatus(p *corev1.Pod, hostIP, podIP string, at time.Time) corev1.PodStatus {
	now := metav1.NewTime(at)
	st := *p.Status.DeepCopy()
	st.Phase = corev1.PodRunning
	st.Reason, st.Message = "", ""
	st.HostIP, st.HostIPs = hostIP, []corev1.HostIP{{IP: hostIP}}
	st.PodIP, st.PodIPs = podIP, []corev1.PodIP{{IP: podIP}}
	if st.StartTime == nil {
		st.StartTime = &now
	}
	setCondition(&st, corev1.PodScheduled, corev1.ConditionTrue, "", now)
	setCondition(&st, corev1.PodReadyToStartContainers, corev1.ConditionTrue, "", now)
	setCondition(&st, corev1.PodInitialized, corev1.ConditionTrue, "", now)
	setCondition(&st, corev1.ContainersReady, corev1.ConditionTrue, "", now)
	setCondition(&st, corev1.PodReady, corev1.ConditionTrue, "", now)
	st.InitContainerStatuses = nil
	for _, c := range p.Spec.InitContainers {
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: imageID(c.Image), ContainerID: containerID(p, c.Name)}
		if isSidecar(c) {
			started := true
			cs.Ready, cs.Started = true, &started
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: now}
		} else {
			started := false
			cs.Started = &started
			cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed",
				StartedAt: now, FinishedAt: now, ContainerID: cs.ContainerID}
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}
	st.ContainerStatuses = nil
	for _, c := range p.Spec.Containers {
		started := true
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: imageID(c.Image), ContainerID: containerID(p, c.Name),
			Ready: true, Started: &started, RestartCount: 0,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	return st
}

// completedStatus is what a kubelet reports when every container of a
// run-to-completion pod exited 0.
func completedStatus(p *corev1.Pod, rec *podRecord, at time.Time) corev1.PodStatus {
	now := metav1.NewTime(at)
	st := *p.Status.DeepCopy()
	st.Phase = corev1.PodSucceeded
	setCondition(&st, corev1.PodReadyToStartContainers, corev1.ConditionFalse, "", now)
	setCondition(&st, corev1.ContainersReady, corev1.ConditionFalse, "PodCompleted", now)
	setCondition(&st, corev1.PodReady, corev1.ConditionFalse, "PodCompleted", now)
	started := now
	if !rec.started.IsZero() {
		started = metav1.NewTime(rec.started)
	} else if st.StartTime != nil {
		started = *st.StartTime
	}
	for i := range st.ContainerStatuses {
		cs := &st.ContainerStatuses[i]
		if cs.State.Running != nil {
			started = cs.State.Running.StartedAt
		}
		no := false
		cs.Ready, cs.Started = false, &no
		cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed",
			StartedAt: started, FinishedAt: now, ContainerID: cs.ContainerID}}
	}
	for i := range st.InitContainerStatuses {
		cs := &st.InitContainerStatuses[i]
		if cs.State.Running != nil { // a sidecar stops with the pod
			no := false
			cs.Ready, cs.Started = false, &no
			cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed",
				StartedAt: cs.State.Running.StartedAt, FinishedAt: now, ContainerID: cs.ContainerID}}
		}
	}
	return st
}
