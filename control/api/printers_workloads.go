package api

import (
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"
)

func replicas(r *int32) int64 {
	if r == nil {
		return 0
	}
	return int64(*r)
}

var deploymentTable = &TableDef{
	Columns: []metav1.TableColumnDefinition{
		nameCol,
		col("Ready", "string", 0, "Number of the pod with ready state"),
		col("Up-to-date", "string", 0, appsv1.DeploymentStatus{}.SwaggerDoc()["updatedReplicas"]),
		col("Available", "string", 0, appsv1.DeploymentStatus{}.SwaggerDoc()["availableReplicas"]),
		ageCol, containersCol, imagesCol,
		col("Selector", "string", 1, appsv1.DeploymentSpec{}.SwaggerDoc()["selector"]),
	},
	Row: func(obj runtime.Object, now time.Time) []any {
		d := obj.(*appsv1.Deployment)
		names, images := layoutContainers(d.Spec.Template.Spec.Containers)
		sel := "<invalid>"
		if s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
			sel = s.String()
		}
		return []any{d.Name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, replicas(d.Spec.Replicas)),
			int64(d.Status.UpdatedReplicas), int64(d.Status.AvailableReplicas), age(d.CreationTimestamp, now), names, images, sel}
	},
}

var replicaSetTable = &TableDef{
	Columns: []metav1.TableColumnDefinition{
		nameCol,
		col("Desired", "integer", 0, appsv1.ReplicaSetSpec{}.SwaggerDoc()["replicas"]),
		col("Current", "integer", 0, appsv1.ReplicaSetStatus{}.SwaggerDoc()["replicas"]),
		col("Ready", "integer", 0, appsv1.ReplicaSetStatus{}.SwaggerDoc()["readyReplicas"]),
		ageCol, containersCol, imagesCol,
		col("Selector", "string", 1, appsv1.ReplicaSetSpec{}.SwaggerDoc()["selector"]),
	},
	Row: func(obj runtime.Object, now time.Time) []any {
		rs := obj.(*appsv1.ReplicaSet)
		names, images := layoutContainers(rs.Spec.Template.Spec.Containers)
		return []any{rs.Name, replicas(rs.Spec.Replicas), int64(rs.Status.Replicas), int64(rs.Status.ReadyReplicas),
			age(rs.CreationTimestamp, now), names, images, metav1.FormatLabelSelector(rs.Spec.Selector)}
	},
}

var statefulSetTable = &TableDef{
	Columns: []metav1.TableColumnDefinition{
		nameCol,
		col("Ready", "string", 0, "Number of the pod with ready state"),
		ageCol, containersCol, imagesCol,
	},
	Row: func(obj runtime.Object, now time.Time) []any {
		s := obj.(*appsv1.StatefulSet)
		names, images := layoutContainers(s.Spec.Template.Spec.Containers)
		return []any{s.Name, fmt.Sprintf("%d/%d", s.Status.ReadyReplicas, replicas(s.Spec.Replicas)), age(s.CreationTimestamp, now), names, images}
	},
}

var daemonSetTable = &TableDef{
	Columns: []metav1.TableColumnDefinition{
		nameCol,
		col("Desired", "integer", 0, appsv1.DaemonSetStatus{}.SwaggerDoc()["desiredNumberScheduled"]),
		col("Current", "integer", 0, appsv1.DaemonSetStatus{}.SwaggerDoc()["currentNumberScheduled"]),
		col("Ready", "integer", 0, appsv1.DaemonSetStatus{}.SwaggerDoc()["numberReady"]),
		col("Up-to-date", "integer", 0, appsv1.DaemonSetStatus{}.SwaggerDoc()["updatedNumberScheduled"]),
		col("Available", "integer", 0, appsv1.DaemonSetStatus{}.SwaggerDoc()["numberAvailable"]),
		col("Node Selector", "string", 0, corev1.PodSpec{}.SwaggerDoc()["nodeSelector"]),
		ageCol, containersCol, imagesCol,
		col("Selector", "string", 1, appsv1.DaemonSetSpec{}.SwaggerDoc()["selector"]),
	},
	Row: func(obj runtime.Object, now time.Time) []any {
		d := obj.(*appsv1.DaemonSet)
		st := d.Status
		names, images := layoutContainers(d.Spec.Template.Spec.Containers)
		return []any{d.Name, int64(st.DesiredNumberScheduled), int64(st.CurrentNumberScheduled), int64(st.NumberReady),
			int64(st.UpdatedNumberScheduled), int64(st.NumberAvailable), labels.FormatLabels(d.Spec.Template.Spec.NodeSelector),
			age(d.CreationTimestamp, now), names, images, metav1.FormatLabelSelector(d.Spec.Selector)}
	},
}

var jobTable = &TableDef{
	Columns: []metav1.TableColumnDefinition{
		nameCol,
		col("Status", "string", 0, "Status of the job."),
		col("Completions", "string", 0, batchv1.JobStatus{}.SwaggerDoc()["succeeded"]),
		col("Duration", "string", 0, "Time required to complete the job."),
		ageCol, containersCol, imagesCol,
		col("Selector", "string", 1, batchv1.JobSpec{}.SwaggerDoc()["selector"]),
	},
	Row: func(obj runtime.Object, now time.Time) []any {
		j := obj.(*batchv1.Job)
		names, images := layoutContainers(j.Spec.Template.Spec.Containers)
		return []any{j.Name, jobStatus(j), jobCompletions(j), jobDuration(j, now), age(j.CreationTimestamp, now),
			names, images, metav1.FormatLabelSelector(j.Spec.Selector)}
	},
}

// jobCompletions is "succeeded/completions", or "n/1 of parallelism" for
// work-queue Jobs.
func jobCompletions(j *batchv1.Job) string {
	if j.Spec.Completions != nil {
		return fmt.Sprintf("%d/%d", j.Status.Succeeded, *j.Spec.Completions)
	}
	if p := replicas(j.Spec.Parallelism); p > 1 {
		return fmt.Sprintf("%d/1 of %d", j.Status.Succeeded, p)
	}
	return fmt.Sprintf("%d/1", j.Status.Succeeded)
}

func jobDuration(j *batchv1.Job, now time.Time) string {
	switch {
	case j.Status.StartTime == nil:
		return ""
	case j.Status.CompletionTime == nil:
		return duration.HumanDuration(now.Sub(j.Status.StartTime.Time))
	}
	return duration.HumanDuration(j.Status.CompletionTime.Sub(j.Status.StartTime.Time))
}

// jobStatus is the STATUS column kubectl 1.30+ shows.
func jobStatus(j *batchv1.Job) string {
	has := func(t batchv1.JobConditionType) bool {
		for _, c := range j.Status.Conditions {
			if c.Type == t {
				return c.Status == corev1.ConditionTrue
			}
		}
		return false
	}
	switch {
	case has(batchv1.JobComplete):
		return "Complete"
	case has(batchv1.JobFailed):
		return "Failed"
	case j.DeletionTimestamp != nil:
		return "Terminating"
	case has(batchv1.JobSuspended):
		return "Suspended"
	case has(batchv1.JobFailureTarget):
		return "FailureTarget"
	}
	return "Running"
}

var controllerRevisionTable = &TableDef{
	Columns: []metav1.TableColumnDefinition{
		nameCol,
		col("Controller", "string", 0, "Controller of the object"),
		col("Revision", "string", 0, appsv1.ControllerRevision{}.SwaggerDoc()["revision"]),
		ageCol,
	},
	Row: func(obj runtime.Object, now time.Time) []any {
		r := obj.(*appsv1.ControllerRevision)
		controller := "<none>"
		if ref := metav1.GetControllerOf(r); ref != nil {
			controller = ref.Name
			if gv, err := schema.ParseGroupVersion(ref.APIVersion); err == nil {
				if gk := gv.WithKind(ref.Kind).GroupKind(); !gk.Empty() {
					controller = strings.ToLower(gk.String()) + "/" + ref.Name
				}
			}
		}
		return []any{r.Name, controller, r.Revision, age(r.CreationTimestamp, now)}
	},
}
