package controllers

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

var jobGVK = batchv1.SchemeGroupVersion.WithKind("Job")

// Job backoff between a failure and its replacement, as Kubernetes's
// DefaultJobPodFailureBackOff and MaxJobPodFailureBackOff.
const (
	jobBackoffBase = 10 * time.Second
	jobBackoffMax  = 6 * time.Minute
)

// jobEvent is an event a pass wants recorded about the Job.
type jobEvent struct{ typ, reason, msg string }

// jobPlan is what one pass of the Job controller does.
type jobPlan struct {
	create  []int // completion indexes of pods to create (-1 for NonIndexed)
	delete  []*corev1.Pod
	status  batchv1.JobStatus
	events  []jobEvent
	recheck time.Duration
}

func jobIndexed(j *batchv1.Job) bool {
	return j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion
}

func jobInt(p *int32, def int) int {
	if p == nil {
		return def
	}
	return int(*p)
}

// jobIndexOf returns the completion index of an Indexed Job's pod.
func jobIndexOf(p *corev1.Pod) int {
	v, ok := p.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		v, ok = p.Labels[batchv1.JobCompletionIndexAnnotation]
	}
	n, err := strconv.Atoi(v)
	if !ok || err != nil || n < 0 {
		return -1
	}
	return n
}

// jobCondition returns the condition of a type, or nil.
func jobCondition(st *batchv1.JobStatus, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

func jobIsTrue(st *batchv1.JobStatus, t batchv1.JobConditionType) bool {
	c := jobCondition(st, t)
	return c != nil && c.Status == corev1.ConditionTrue
}

// jobSetCondition sets a condition and reports whether it changed.
func jobSetCondition(st *batchv1.JobStatus, t batchv1.JobConditionType, status corev1.ConditionStatus, reason, msg string, now time.Time) bool {
	ts := metav1.NewTime(now)
	if c := jobCondition(st, t); c != nil {
		if c.Status == status && c.Reason == reason && c.Message == msg {
			return false
		}
		if c.Status != status {
			c.LastTransitionTime = ts
		}
		c.Status, c.Reason, c.Message, c.LastProbeTime = status, reason, msg, ts
		return true
	}
	st.Conditions = append(st.Conditions, batchv1.JobCondition{Type: t, Status: status, Reason: reason, Message: msg,
		LastProbeTime: ts, LastTransitionTime: ts})
	return true
}

// jobFinishedAt returns when a pod finished (its last container's end).
func jobFinishedAt(p *corev1.Pod) time.Time {
	var t time.Time
	for _, cs := range p.Status.ContainerStatuses {
		if x := cs.State.Terminated; x != nil && x.FinishedAt.After(t) {
			t = x.FinishedAt.Time
		}
	}
	if t.IsZero() {
		for _, c := range p.Status.Conditions {
			if c.LastTransitionTime.After(t) {
				t = c.LastTransitionTime.Time
			}
		}
	}
	if t.IsZero() {
		t = p.CreationTimestamp.Time
	}
	return t
}

// jobPods sorts a Job's pods by state.
type jobPods struct {
	active, terminating, succeeded, failed []*corev1.Pod
	ready, restarts                        int
}

func jobClassify(pods []*corev1.Pod) jobPods {
	var jp jobPods
	for _, p := range pods {
		switch {
		case p.Status.Phase == corev1.PodSucceeded:
			jp.succeeded = append(jp.succeeded, p)
		case p.Status.Phase == corev1.PodFailed:
			jp.failed = append(jp.failed, p)
		case p.DeletionTimestamp != nil:
			jp.terminating = append(jp.terminating, p)
		default:
			jp.active = append(jp.active, p)
			if IsPodReady(p) {
				jp.ready++
			}
			for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
				jp.restarts += int(cs.RestartCount)
			}
		}
	}
	return jp
}

// jobPlanFor decides one pass over a Job: keep min(parallelism, remaining
// completions) pods active, count successes and failures, and finish the
// Job as Complete, or as Failed on the backoff limit or the active
// deadline, deleting what is still running.
func jobPlanFor(job *batchv1.Job, pods []*corev1.Pod, now time.Time) jobPlan {
	st := *job.Status.DeepCopy()
	plan := jobPlan{}
	jp := jobClassify(pods)
	if jobIsTrue(&st, batchv1.JobComplete) || jobIsTrue(&st, batchv1.JobFailed) {
		plan.delete = jp.active
		st.Active, st.Ready = 0, ptr.To(int32(0))
		plan.status = st
		return plan
	}
	active, stray, done, succeeded := jobCount(job, &st, jp)
	plan.delete = stray
	st.Ready = ptr.To(int32(jp.ready))
	st.Terminating = ptr.To(int32(len(jp.terminating)))

	if job.Spec.Suspend != nil && *job.Spec.Suspend {
		return jobSuspend(st, active, plan, now)
	}
	if jobIsTrue(&st, batchv1.JobSuspended) {
		jobSetCondition(&st, batchv1.JobSuspended, corev1.ConditionFalse, "JobResumed", "Job resumed", now)
		plan.events = append(plan.events, jobEvent{corev1.EventTypeNormal, "Resumed", "Job resumed"})
		st.StartTime = nil
	}
	if st.StartTime == nil {
		st.StartTime = ptr.To(metav1.NewTime(now))
	}
	if reason, msg := jobFailure(job, &st, jp, now, &plan); reason != "" {
		return jobFinish(job, st, active, jp, plan, batchv1.JobFailureTarget, batchv1.JobFailed, reason, msg, now)
	}
	completions := jobInt(job.Spec.Completions, -1)
	if (completions >= 0 && succeeded >= completions) || (completions < 0 && succeeded > 0 && len(active) == 0) || jobIsTrue(&st, batchv1.JobSuccessCriteriaMet) {
		return jobFinish(job, st, active, jp, plan, batchv1.JobSuccessCriteriaMet, batchv1.JobComplete,
			"CompletionsReached", "Reached expected number of succeeded pods", now)
	}

	want := jobInt(job.Spec.Parallelism, 1)
	switch {
	case completions < 0 && succeeded > 0:
		want = len(active) // a work queue Job: no new pods once one succeeded
	case completions >= 0 && want > completions-succeeded:
		want = completions - succeeded
	}
	excess := jobExcess(active, len(active)-want)
	plan.delete = append(plan.delete, excess...)
	if n := want - len(active); n > 0 {
		if wait := jobBackoff(job, jp, now); wait > 0 {
			plan.recheck = wait
		} else {
			plan.create = jobNewIndexes(job, active, done, n)
		}
	}
	st.Active = int32(len(active) - len(excess) + len(plan.create))
	plan.status = st
	return plan
}

// jobCount splits a Job's active pods into those to keep and strays (an
// Indexed Job's pods of invalid or completed indexes), records completed
// indexes, and counts successes and failures into st; counts never go
// down, so a finished pod deleted by someone else stays counted.
func jobCount(job *batchv1.Job, st *batchv1.JobStatus, jp jobPods) (active, stray []*corev1.Pod, done map[int]bool, succeeded int) {
	indexed, completions := jobIndexed(job), jobInt(job.Spec.Completions, 1)
	done = jobParseIndexes(st.CompletedIndexes)
	for _, p := range jp.active {
		if i := jobIndexOf(p); indexed && (i < 0 || i >= completions || done[i]) {
			stray = append(stray, p)
			continue
		}
		active = append(active, p)
	}
	for _, p := range jp.succeeded {
		if i := jobIndexOf(p); indexed && i >= 0 && i < completions {
			done[i] = true
		}
	}
	succeeded = len(jp.succeeded)
	if indexed {
		succeeded = len(done)
		st.CompletedIndexes = jobFormatIndexes(done)
	}
	st.Succeeded = max(st.Succeeded, int32(succeeded))
	st.Failed = max(st.Failed, int32(len(jp.failed)))
	return active, stray, done, succeeded
}

// jobSuspend deletes a suspended Job's active pods and marks it Suspended.
func jobSuspend(st batchv1.JobStatus, active []*corev1.Pod, plan jobPlan, now time.Time) jobPlan {
	plan.delete = append(plan.delete, active...)
	st.Active, st.Ready = 0, ptr.To(int32(0))
	if jobSetCondition(&st, batchv1.JobSuspended, corev1.ConditionTrue, "JobSuspended", "Job suspended", now) {
		plan.events = append(plan.events, jobEvent{corev1.EventTypeNormal, "Suspended", "Job suspended"})
	}
	plan.status = st
	return plan
}

// jobFailure reports why a Job has failed (reason "" when it has not) and
// sets the recheck for a pending deadline.
func jobFailure(job *batchv1.Job, st *batchv1.JobStatus, jp jobPods, now time.Time, plan *jobPlan) (reason, msg string) {
	if c := jobCondition(st, batchv1.JobFailureTarget); c != nil && c.Status == corev1.ConditionTrue {
		return c.Reason, c.Message
	}
	limit := jobInt(job.Spec.BackoffLimit, 6)
	if int(st.Failed) > limit {
		return batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit"
	}
	if job.Spec.Template.Spec.RestartPolicy == corev1.RestartPolicyOnFailure && jp.restarts > 0 &&
		((limit == 0) || int(st.Failed)+jp.restarts >= limit) {
		return batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit"
	}
	if d := job.Spec.ActiveDeadlineSeconds; d != nil && st.StartTime != nil {
		left := st.StartTime.Add(time.Duration(*d) * time.Second).Sub(now)
		if left <= 0 {
			return batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline"
		}
		plan.recheck = left
	}
	return "", ""
}

// jobFinish marks the interim condition (SuccessCriteriaMet or
// FailureTarget), deletes the pods still active, and once none is left
// running adds the final condition (Complete or Failed), as Kubernetes ≥
// 1.31 does.
func jobFinish(job *batchv1.Job, st batchv1.JobStatus, active []*corev1.Pod, jp jobPods, plan jobPlan,
	interim, final batchv1.JobConditionType, reason, msg string, now time.Time) jobPlan {
	jobSetCondition(&st, interim, corev1.ConditionTrue, reason, msg, now)
	plan.delete = append(plan.delete, active...)
	plan.recheck = 0
	st.Active, st.Ready = 0, ptr.To(int32(0))
	if len(active) == 0 && len(jp.terminating) == 0 {
		if jobSetCondition(&st, final, corev1.ConditionTrue, reason, msg, now) {
			if final == batchv1.JobComplete {
				st.CompletionTime = ptr.To(metav1.NewTime(now))
				plan.events = append(plan.events, jobEvent{corev1.EventTypeNormal, "Completed", "Job completed"})
			} else {
				plan.events = append(plan.events, jobEvent{corev1.EventTypeWarning, reason, msg})
			}
		}
	}
	plan.status = st
	return plan
}

// jobBackoff returns how long the replacement of failed pods must still
// wait: 10s doubled per failure, at most 6m, from the last failure.
func jobBackoff(job *batchv1.Job, jp jobPods, now time.Time) time.Duration {
	if len(jp.failed) == 0 {
		return 0
	}
	var last time.Time
	for _, p := range jp.failed {
		if t := jobFinishedAt(p); t.After(last) {
			last = t
		}
	}
	d := jobBackoffBase
	for i := 1; i < len(jp.failed) && d < jobBackoffMax; i++ {
		d *= 2
	}
	d = min(d, jobBackoffMax)
	if left := last.Add(d).Sub(now); left > 0 {
		return left
	}
	return 0
}

// jobExcess picks n active pods to delete: not ready first, then newest.
func jobExcess(active []*corev1.Pod, n int) []*corev1.Pod {
	if n <= 0 {
		return nil
	}
	s := append([]*corev1.Pod{}, active...)
	sort.SliceStable(s, func(i, j int) bool {
		ri, rj := IsPodReady(s[i]), IsPodReady(s[j])
		if ri != rj {
			return !ri
		}
		return s[j].CreationTimestamp.Before(&s[i].CreationTimestamp)
	})
	return s[:min(n, len(s))]
}

// jobNewIndexes returns the indexes of n pods to create: -1 each for a
// NonIndexed Job, the lowest pending indexes for an Indexed one.
func jobNewIndexes(job *batchv1.Job, active []*corev1.Pod, done map[int]bool, n int) []int {
	var out []int
	if !jobIndexed(job) {
		for i := 0; i < n; i++ {
			out = append(out, -1)
		}
		return out
	}
	running := map[int]bool{}
	for _, p := range active {
		running[jobIndexOf(p)] = true
	}
	for i := 0; i < jobInt(job.Spec.Completions, 1) && len(out) < n; i++ {
		if !done[i] && !running[i] {
			out = append(out, i)
		}
	}
	return out
}

// jobNewPod builds a Job pod (index -1 for NonIndexed).
func jobNewPod(job *batchv1.Job, index int) *corev1.Pod {
	p := podFromTemplate(&job.Spec.Template, job, newControllerRef(job, jobGVK))
	if index < 0 {
		return p
	}
	idx := strconv.Itoa(index)
	p.GenerateName = fmt.Sprintf("%s-%d-", job.Name, index)
	p.Annotations[batchv1.JobCompletionIndexAnnotation] = idx
	p.Labels[batchv1.JobCompletionIndexAnnotation] = idx
	p.Spec.Hostname = fmt.Sprintf("%s-%d", job.Name, index)
	env := corev1.EnvVar{Name: "JOB_COMPLETION_INDEX", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
		APIVersion: "v1", FieldPath: fmt.Sprintf("metadata.annotations['%s']", batchv1.JobCompletionIndexAnnotation)}}}
	for i := range p.Spec.InitContainers {
		p.Spec.InitContainers[i].Env = append(p.Spec.InitContainers[i].Env, env)
	}
	for i := range p.Spec.Containers {
		p.Spec.Containers[i].Env = append(p.Spec.Containers[i].Env, env)
	}
	return p
}

// jobParseIndexes reads a completedIndexes list such as "0-2,4".
func jobParseIndexes(s string) map[int]bool {
	out := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		lo, hi, rng := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if rng {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		for i := a; i <= b && i-a < 1<<20; i++ {
			out[i] = true
		}
	}
	return out
}

// jobFormatIndexes writes indexes as a completedIndexes list.
func jobFormatIndexes(set map[int]bool) string {
	var idx []int
	for i := range set {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	var parts []string
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, strconv.Itoa(idx[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", idx[i], idx[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}
