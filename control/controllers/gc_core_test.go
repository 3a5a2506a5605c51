package controllers

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func ref(uid string) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "o-" + uid, UID: types.UID(uid)}
}

func TestDecideDependent(t *testing.T) {
	deleting := metav1.NewTime(t0)
	for _, tc := range []struct {
		name          string
		refs          []metav1.OwnerReference
		states        map[types.UID]ownerState
		hasDependents bool
		finalizers    []string
		beingDeleted  bool
		want          string
	}{
		{"owner exists", []metav1.OwnerReference{ref("a")}, map[types.UID]ownerState{"a": ownerSolid}, false, nil, false, "none"},
		{"owner gone: background", []metav1.OwnerReference{ref("a")}, map[types.UID]ownerState{"a": ownerDangling}, false, nil, false, "delete Background"},
		{"all owners gone", []metav1.OwnerReference{ref("a"), ref("b")}, map[types.UID]ownerState{"a": ownerDangling, "b": ownerDangling}, true, nil, false, "delete Background"},
		{"one owner left: drop the dangling ref", []metav1.OwnerReference{ref("a"), ref("b")}, map[types.UID]ownerState{"a": ownerSolid, "b": ownerDangling}, false, nil, false, "remove [b]"},
		{"one owner left: drop the waiting ref", []metav1.OwnerReference{ref("a"), ref("b")}, map[types.UID]ownerState{"a": ownerWaiting, "b": ownerSolid}, true, nil, false, "remove [a]"},
		{"owner waits, dependent has dependents: foreground", []metav1.OwnerReference{ref("a")}, map[types.UID]ownerState{"a": ownerWaiting}, true, nil, false, "delete Foreground"},
		{"owner waits, leaf dependent: background", []metav1.OwnerReference{ref("a")}, map[types.UID]ownerState{"a": ownerWaiting}, false, nil, false, "delete Background"},
		{"own orphan finalizer respected", []metav1.OwnerReference{ref("a")}, map[types.UID]ownerState{"a": ownerDangling}, true, []string{metav1.FinalizerOrphanDependents}, false, "delete Orphan"},
		{"own foreground finalizer respected", []metav1.OwnerReference{ref("a")}, map[types.UID]ownerState{"a": ownerDangling}, true, []string{metav1.FinalizerDeleteDependents}, false, "delete Foreground"},
		{"already being deleted", []metav1.OwnerReference{ref("a")}, map[types.UID]ownerState{"a": ownerDangling}, false, nil, true, "none"},
		{"no owners", nil, nil, false, nil, false, "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &metav1.ObjectMeta{OwnerReferences: tc.refs, Finalizers: tc.finalizers}
			if tc.beingDeleted {
				m.DeletionTimestamp = &deleting
			}
			if got := actionString(decideDependent(tc.refs, tc.states, tc.hasDependents, m)); got != tc.want {
				t.Errorf("decided %q, want %q", got, tc.want)
			}
		})
	}
}

func actionString(a gcAction) string {
	switch a.Verb {
	case gcRemoveRefs:
		return fmt.Sprintf("remove %v", a.UIDs)
	case gcDelete:
		return "delete " + string(a.Policy)
	}
	return "none"
}

func TestDecideOwner(t *testing.T) {
	deleting := metav1.NewTime(t0)
	for _, tc := range []struct {
		name       string
		deleting   bool
		finalizers []string
		deps       []dependentInfo
		want       ownerVerb
	}{
		{"not being deleted", false, []string{metav1.FinalizerDeleteDependents}, []dependentInfo{{Blocks: true}}, ownerNothing},
		{"orphan", true, []string{metav1.FinalizerOrphanDependents}, []dependentInfo{{Blocks: true}}, ownerOrphan},
		{"orphan without dependents still removes the finalizer", true, []string{metav1.FinalizerOrphanDependents}, nil, ownerOrphan},
		{"foreground with blocking dependents", true, []string{metav1.FinalizerDeleteDependents}, []dependentInfo{{Blocks: false}, {Blocks: true}}, ownerDeleteDeps},
		{"foreground waits for terminating blockers", true, []string{metav1.FinalizerDeleteDependents}, []dependentInfo{{Blocks: true, Deleting: true}}, ownerDeleteDeps},
		{"foreground with only non-blocking dependents finishes", true, []string{metav1.FinalizerDeleteDependents}, []dependentInfo{{Blocks: false}}, ownerFinishDeletion},
		{"foreground without dependents finishes", true, []string{metav1.FinalizerDeleteDependents}, nil, ownerFinishDeletion},
		{"other finalizers only", true, []string{"example.com/x"}, []dependentInfo{{Blocks: true}}, ownerNothing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &metav1.ObjectMeta{Finalizers: tc.finalizers}
			if tc.deleting {
				m.DeletionTimestamp = &deleting
			}
			if got := decideOwner(m, tc.deps); got != tc.want {
				t.Errorf("decided %d, want %d", got, tc.want)
			}
		})
	}
}

func TestNamespaceConditions(t *testing.T) {
	now := t0
	res := drainResult{remaining: map[string]int{"pods.": 2, "replicasets.apps": 1}, finalizers: map[string]int{"foregroundDeletion": 1}}
	conds := namespaceConditions(nil, res, now)
	byType := map[corev1.NamespaceConditionType]corev1.NamespaceCondition{}
	for _, c := range conds {
		byType[c.Type] = c
	}
	if c := byType[corev1.NamespaceContentRemaining]; c.Status != corev1.ConditionTrue || c.Reason != "SomeResourcesRemain" ||
		c.Message != "Some resources are remaining: pods. has 2 resource instances, replicasets.apps has 1 resource instances" {
		t.Errorf("content remaining %+v", c)
	}
	if c := byType[corev1.NamespaceFinalizersRemaining]; c.Status != corev1.ConditionTrue ||
		c.Message != "Some content in the namespace has finalizers remaining: foregroundDeletion in 1 resource instances" {
		t.Errorf("finalizers remaining %+v", c)
	}
	if c := byType[corev1.NamespaceDeletionContentFailure]; c.Status != corev1.ConditionFalse || c.Reason != "ContentDeleted" {
		t.Errorf("content failure %+v", c)
	}
	later := namespaceConditions(conds, drainResult{errs: []error{errors.New("listing pods: boom")}}, now.Add(1e9))
	for _, c := range later {
		switch c.Type {
		case corev1.NamespaceDeletionContentFailure:
			if c.Status != corev1.ConditionTrue || !strings.Contains(c.Message, "boom") || !c.LastTransitionTime.Equal(&metav1.Time{Time: now.Add(1e9)}) {
				t.Errorf("content failure after an error %+v", c)
			}
		case corev1.NamespaceDeletionDiscoveryFailure:
			if !c.LastTransitionTime.Equal(&metav1.Time{Time: now}) {
				t.Errorf("unchanged condition %s moved its transition time", c.Type)
			}
		}
	}
}
