package controllers

import (
	"reflect"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func jobFixture(completions, parallelism *int32, opts ...func(*batchv1.Job)) *batchv1.Job {
	nonIndexed := batchv1.NonIndexedCompletion
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: "uid-pi"},
		Spec: batchv1.JobSpec{Completions: completions, Parallelism: parallelism, BackoffLimit: ptrTo(int32(2)), CompletionMode: &nonIndexed,
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"job-name": "pi"}},
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "img"}}}}},
	}
	started := metav1.NewTime(fxNow.Add(-time.Minute))
	j.Status.StartTime = &started
	for _, o := range opts {
		o(j)
	}
	return j
}

func jobPod(name string, phase corev1.PodPhase, opts ...func(*corev1.Pod)) *corev1.Pod {
	o := []func(*corev1.Pod){fxPhase(phase)}
	if phase == corev1.PodFailed {
		o = append(o, func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 1, FinishedAt: metav1.NewTime(fxNow.Add(-time.Hour))}}}}
		})
	}
	return fxPod(name, append(o, opts...)...)
}

func jobConds(st batchv1.JobStatus) map[batchv1.JobConditionType]string {
	out := map[batchv1.JobConditionType]string{}
	for _, c := range st.Conditions {
		if c.Status == corev1.ConditionTrue {
			out[c.Type] = c.Reason
		}
	}
	return out
}

func TestJobPlan(t *testing.T) {
	i32 := func(v int32) *int32 { return &v }
	type want struct {
		creates            int
		deletes            []string
		active             int32
		succeeded, failed  int32
		conds              map[batchv1.JobConditionType]string
		completionTimeSet  bool
		recheckAtLeastSecs float64
	}
	cases := []struct {
		name string
		job  *batchv1.Job
		pods []*corev1.Pod
		want want
	}{
		{name: "starts parallelism pods", job: jobFixture(i32(5), i32(2)), want: want{creates: 2, active: 2, conds: map[batchv1.JobConditionType]string{}}},
		{name: "no more than the remaining completions", job: jobFixture(i32(3), i32(3)),
			pods: []*corev1.Pod{jobPod("a", corev1.PodSucceeded), jobPod("b", corev1.PodSucceeded), jobPod("c", corev1.PodRunning)},
			want: want{active: 1, succeeded: 2, conds: map[batchv1.JobConditionType]string{}}},
		{name: "replaces a finished pod", job: jobFixture(i32(3), i32(1)),
			pods: []*corev1.Pod{jobPod("a", corev1.PodSucceeded)},
			want: want{creates: 1, active: 1, succeeded: 1, conds: map[batchv1.JobConditionType]string{}}},
		{name: "completes", job: jobFixture(i32(2), i32(1)),
			pods: []*corev1.Pod{jobPod("a", corev1.PodSucceeded), jobPod("b", corev1.PodSucceeded)},
			want: want{succeeded: 2, completionTimeSet: true,
				conds: map[batchv1.JobConditionType]string{batchv1.JobSuccessCriteriaMet: "CompletionsReached", batchv1.JobComplete: "CompletionsReached"}}},
		{name: "success criteria met first while pods still run", job: jobFixture(i32(1), i32(2)),
			pods: []*corev1.Pod{jobPod("a", corev1.PodSucceeded), jobPod("b", corev1.PodRunning)},
			want: want{succeeded: 1, deletes: []string{"b"}, conds: map[batchv1.JobConditionType]string{batchv1.JobSuccessCriteriaMet: "CompletionsReached"}}},
		{name: "work queue job completes when one succeeded and none runs", job: jobFixture(nil, i32(2)),
			pods: []*corev1.Pod{jobPod("a", corev1.PodSucceeded), jobPod("b", corev1.PodFailed)},
			want: want{succeeded: 1, failed: 1, completionTimeSet: true,
				conds: map[batchv1.JobConditionType]string{batchv1.JobSuccessCriteriaMet: "CompletionsReached", batchv1.JobComplete: "CompletionsReached"}}},
		{name: "backoff limit exceeded fails the job and deletes what runs", job: jobFixture(i32(5), i32(2)),
			pods: []*corev1.Pod{jobPod("a", corev1.PodFailed), jobPod("b", corev1.PodFailed), jobPod("c", corev1.PodFailed), jobPod("d", corev1.PodRunning)},
			want: want{failed: 3, deletes: []string{"d"}, conds: map[batchv1.JobConditionType]string{batchv1.JobFailureTarget: batchv1.JobReasonBackoffLimitExceeded}}},
		{name: "failed once all pods are gone", job: jobFixture(i32(5), i32(2)),
			pods: []*corev1.Pod{jobPod("a", corev1.PodFailed), jobPod("b", corev1.PodFailed), jobPod("c", corev1.PodFailed)},
			want: want{failed: 3, conds: map[batchv1.JobConditionType]string{batchv1.JobFailureTarget: batchv1.JobReasonBackoffLimitExceeded,
				batchv1.JobFailed: batchv1.JobReasonBackoffLimitExceeded}}},
		{name: "failures within the limit are replaced", job: jobFixture(i32(1), i32(1)),
			pods: []*corev1.Pod{jobPod("a", corev1.PodFailed), jobPod("b", corev1.PodFailed)},
			want: want{failed: 2, creates: 1, active: 1, conds: map[batchv1.JobConditionType]string{}}},
		{name: "OnFailure restarts count against the limit", job: jobFixture(i32(1), i32(1), func(j *batchv1.Job) {
			j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		}),
			pods: []*corev1.Pod{jobPod("a", corev1.PodRunning, func(p *corev1.Pod) {
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{RestartCount: 2}}
			})},
			want: want{deletes: []string{"a"}, conds: map[batchv1.JobConditionType]string{batchv1.JobFailureTarget: batchv1.JobReasonBackoffLimitExceeded}}},
		{name: "active deadline exceeded", job: jobFixture(i32(1), i32(1), func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptrTo(int64(30)) }),
			pods: []*corev1.Pod{jobPod("a", corev1.PodRunning)},
			want: want{deletes: []string{"a"}, conds: map[batchv1.JobConditionType]string{batchv1.JobFailureTarget: batchv1.JobReasonDeadlineExceeded}}},
		{name: "active deadline pending sets a recheck", job: jobFixture(i32(1), i32(1), func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptrTo(int64(90)) }),
			pods: []*corev1.Pod{jobPod("a", corev1.PodRunning)},
			want: want{active: 1, conds: map[batchv1.JobConditionType]string{}, recheckAtLeastSecs: 29}},
		{name: "suspend deletes active pods", job: jobFixture(i32(3), i32(2), func(j *batchv1.Job) { j.Spec.Suspend = ptrTo(true) }),
			pods: []*corev1.Pod{jobPod("a", corev1.PodRunning), jobPod("b", corev1.PodPending)},
			want: want{deletes: []string{"a", "b"}, conds: map[batchv1.JobConditionType]string{batchv1.JobSuspended: "JobSuspended"}}},
		{name: "parallelism lowered deletes the newest extra pod", job: jobFixture(i32(5), i32(1)),
			pods: []*corev1.Pod{jobPod("old", corev1.PodRunning, fxCreated(2*time.Hour)), jobPod("new", corev1.PodRunning)},
			want: want{active: 1, deletes: []string{"new"}, conds: map[batchv1.JobConditionType]string{}}},
		{name: "counts never go down", job: jobFixture(i32(5), i32(1), func(j *batchv1.Job) { j.Status.Succeeded, j.Status.Failed = 2, 1 }),
			pods: []*corev1.Pod{jobPod("a", corev1.PodRunning)},
			want: want{active: 1, succeeded: 2, failed: 1, conds: map[batchv1.JobConditionType]string{}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan := jobPlanFor(tc.job, tc.pods, fxNow)
			st := plan.status
			if len(plan.create) != tc.want.creates {
				t.Errorf("creates %d pods, want %d", len(plan.create), tc.want.creates)
			}
			if got := fxPodNames(plan.delete); !reflect.DeepEqual(got, append([]string{}, tc.want.deletes...)) {
				t.Errorf("deletes %v, want %v", got, tc.want.deletes)
			}
			if st.Active != tc.want.active || st.Succeeded != tc.want.succeeded || st.Failed != tc.want.failed {
				t.Errorf("active/succeeded/failed = %d/%d/%d, want %d/%d/%d", st.Active, st.Succeeded, st.Failed, tc.want.active, tc.want.succeeded, tc.want.failed)
			}
			if got := jobConds(st); !reflect.DeepEqual(got, tc.want.conds) {
				t.Errorf("true conditions %v, want %v", got, tc.want.conds)
			}
			if (st.CompletionTime != nil) != tc.want.completionTimeSet {
				t.Errorf("completionTime %v, want set=%v", st.CompletionTime, tc.want.completionTimeSet)
			}
			if tc.want.recheckAtLeastSecs > 0 && plan.recheck.Seconds() < tc.want.recheckAtLeastSecs {
				t.Errorf("recheck in %s, want at least %gs", plan.recheck, tc.want.recheckAtLeastSecs)
			}
		})
	}
}

func TestJobBackoffDelaysReplacement(t *testing.T) {
	failedAgo := func(ago time.Duration) *corev1.Pod {
		return jobPod("f", corev1.PodFailed, func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0].State.Terminated.FinishedAt = metav1.NewTime(fxNow.Add(-ago))
		})
	}
	one := ptrTo(int32(1))
	job := jobFixture(one, one)
	plan := jobPlanFor(job, []*corev1.Pod{failedAgo(4 * time.Second)}, fxNow)
	if len(plan.create) != 0 || plan.recheck != 6*time.Second {
		t.Errorf("4s after the first failure: %d creates, recheck %s; want none and 6s (10s back-off)", len(plan.create), plan.recheck)
	}
	plan = jobPlanFor(job, []*corev1.Pod{failedAgo(11 * time.Second)}, fxNow)
	if len(plan.create) != 1 {
		t.Errorf("11s after the first failure: %d creates, want 1", len(plan.create))
	}
}

func TestJobIndexed(t *testing.T) {
	indexed := batchv1.IndexedCompletion
	job := jobFixture(ptrTo(int32(4)), ptrTo(int32(2)), func(j *batchv1.Job) { j.Spec.CompletionMode = &indexed })
	idx := func(i string) func(*corev1.Pod) {
		return func(p *corev1.Pod) { p.Annotations = map[string]string{batchv1.JobCompletionIndexAnnotation: i} }
	}
	pods := []*corev1.Pod{jobPod("a", corev1.PodSucceeded, idx("0")), jobPod("b", corev1.PodRunning, idx("1")),
		jobPod("c", corev1.PodSucceeded, idx("3")), jobPod("d", corev1.PodRunning, idx("9"))}
	plan := jobPlanFor(job, pods, fxNow)
	if !reflect.DeepEqual(plan.create, []int{2}) {
		t.Errorf("creates indexes %v, want [2]", plan.create)
	}
	if got := fxPodNames(plan.delete); !reflect.DeepEqual(got, []string{"d"}) {
		t.Errorf("deletes %v, want the out-of-range index pod d", got)
	}
	if plan.status.CompletedIndexes != "0,3" || plan.status.Succeeded != 2 {
		t.Errorf("completedIndexes %q succeeded %d, want \"0,3\" 2", plan.status.CompletedIndexes, plan.status.Succeeded)
	}
	p := jobNewPod(job, 2)
	if p.GenerateName != "pi-2-" || p.Spec.Hostname != "pi-2" || p.Annotations[batchv1.JobCompletionIndexAnnotation] != "2" {
		t.Errorf("indexed pod generateName %q hostname %q annotations %v", p.GenerateName, p.Spec.Hostname, p.Annotations)
	}
	if env := p.Spec.Containers[0].Env; len(env) != 1 || env[0].Name != "JOB_COMPLETION_INDEX" {
		t.Errorf("env %+v, want JOB_COMPLETION_INDEX", env)
	}
}

func TestJobIndexesFormat(t *testing.T) {
	for _, s := range []string{"", "0", "0-2", "0-2,4,6-7", "1,3,5"} {
		if got := jobFormatIndexes(jobParseIndexes(s)); got != s {
			t.Errorf("round trip of %q gave %q", s, got)
		}
	}
}
