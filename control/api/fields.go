package api

import (
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// fieldSets are the selectable fields of each kind beyond metadata.name and
// metadata.namespace; they mirror the Kubernetes API server's.
var fieldSets = map[string]func(runtime.Object) map[string]string{
	"Pod": func(o runtime.Object) map[string]string {
		p := o.(*corev1.Pod)
		return map[string]string{
			"spec.nodeName":            p.Spec.NodeName,
			"spec.restartPolicy":       string(p.Spec.RestartPolicy),
			"spec.schedulerName":       p.Spec.SchedulerName,
			"spec.serviceAccountName":  p.Spec.ServiceAccountName,
			"spec.hostNetwork":         strconv.FormatBool(p.Spec.HostNetwork),
			"status.phase":             string(p.Status.Phase),
			"status.podIP":             p.Status.PodIP,
			"status.nominatedNodeName": p.Status.NominatedNodeName,
		}
	},
	"Event": func(o runtime.Object) map[string]string {
		e := o.(*corev1.Event)
		return map[string]string{
			"involvedObject.kind":            e.InvolvedObject.Kind,
			"involvedObject.namespace":       e.InvolvedObject.Namespace,
			"involvedObject.name":            e.InvolvedObject.Name,
			"involvedObject.uid":             string(e.InvolvedObject.UID),
			"involvedObject.apiVersion":      e.InvolvedObject.APIVersion,
			"involvedObject.resourceVersion": e.InvolvedObject.ResourceVersion,
			"involvedObject.fieldPath":       e.InvolvedObject.FieldPath,
			"reason":                         e.Reason,
			"reportingComponent":             e.ReportingController,
			"source":                         e.Source.Component,
			"type":                           e.Type,
		}
	},
	"Secret": func(o runtime.Object) map[string]string {
		return map[string]string{"type": string(o.(*corev1.Secret).Type)}
	},
	"Node": func(o runtime.Object) map[string]string {
		return map[string]string{"spec.unschedulable": strconv.FormatBool(o.(*corev1.Node).Spec.Unschedulable)}
	},
	"Namespace": func(o runtime.Object) map[string]string {
		return map[string]string{"status.phase": string(o.(*corev1.Namespace).Status.Phase)}
	},
	"Job": func(o runtime.Object) map[string]string {
		return map[string]string{"status.successful": strconv.Itoa(int(o.(*batchv1.Job).Status.Succeeded))}
	},
}
