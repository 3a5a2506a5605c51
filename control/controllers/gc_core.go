package controllers

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// This file holds the garbage collector's decisions as pure functions of
// what it observed; gc.go observes and acts.

// ownerState is what the collector found behind one ownerReference.
type ownerState int

const (
	// ownerSolid: the owner exists and is not being deleted in the
	// foreground (or cannot be resolved, and is then never presumed gone).
	ownerSolid ownerState = iota
	// ownerDangling: no object of that kind and name, or one with another
	// UID (the owner was deleted and perhaps recreated).
	ownerDangling
	// ownerWaiting: the owner is being deleted in the foreground and waits
	// for its dependents to go first.
	ownerWaiting
)

func (s ownerState) String() string {
	return [...]string{"solid", "dangling", "waiting"}[s]
}

// gcVerb is what the collector does to an object.
type gcVerb int

const (
	gcNone       gcVerb = iota
	gcRemoveRefs        // drop the ownerReferences in gcAction.UIDs
	gcDelete            // delete the object with gcAction.Policy
)

// gcAction is a decision about one dependent.
type gcAction struct {
	Verb   gcVerb
	UIDs   []types.UID
	Policy metav1.DeletionPropagation
}

// decideDependent decides about an object with ownerReferences, given the
// state of each owner (by UID), whether the object itself has dependents,
// and its own deletion state, as Kubernetes's attemptToDeleteItem does:
//   - an object already being deleted is left to finish (unless it is
//     itself deleting its dependents in the foreground, which the owner
//     side handles);
//   - with a solid owner it stays, losing only its references to dangling
//     or waiting owners;
//   - with no solid owner but one waiting for it, it is deleted in the
//     foreground when it has dependents of its own (so the wait covers the
//     whole chain);
//   - otherwise it is garbage: deleted with the propagation its own
//     finalizers ask for (orphan, foreground) or in the background.
func decideDependent(refs []metav1.OwnerReference, states map[types.UID]ownerState, hasDependents bool, m metav1.Object) gcAction {
	if m.GetDeletionTimestamp() != nil || len(refs) == 0 {
		return gcAction{}
	}
	var solid, gone []types.UID
	waiting := 0
	for _, r := range refs {
		switch states[r.UID] {
		case ownerSolid:
			solid = append(solid, r.UID)
		case ownerDangling:
			gone = append(gone, r.UID)
		case ownerWaiting:
			gone = append(gone, r.UID)
			waiting++
		}
	}
	switch {
	case len(solid) > 0 && len(gone) == 0:
		return gcAction{}
	case len(solid) > 0:
		return gcAction{Verb: gcRemoveRefs, UIDs: gone}
	case waiting > 0 && hasDependents:
		return gcAction{Verb: gcDelete, Policy: metav1.DeletePropagationForeground}
	}
	policy := metav1.DeletePropagationBackground
	switch fs := m.GetFinalizers(); {
	case slices.Contains(fs, metav1.FinalizerOrphanDependents):
		policy = metav1.DeletePropagationOrphan
	case slices.Contains(fs, metav1.FinalizerDeleteDependents):
		policy = metav1.DeletePropagationForeground
	}
	return gcAction{Verb: gcDelete, Policy: policy}
}

// ownerVerb is what the collector does for an object being deleted with a
// garbage-collection finalizer.
type ownerVerb int

const (
	ownerNothing        ownerVerb = iota
	ownerOrphan                   // remove the ref from every dependent, then the orphan finalizer
	ownerDeleteDeps               // make the dependents go (they decide themselves: see decideDependent)
	ownerFinishDeletion           // no blocking dependent left: remove the foregroundDeletion finalizer
)

// dependentInfo is what the owner side needs to know of one dependent.
type dependentInfo struct {
	// Blocks: its reference to the owner has blockOwnerDeletion=true.
	Blocks bool
	// Deleting: it already has a deletionTimestamp.
	Deleting bool
}

// decideOwner decides about an object that is being deleted: with the
// orphan finalizer its dependents are released; with foregroundDeletion
// its dependents are deleted, and the finalizer goes once none that
// blocks owner deletion is left (dependents still terminating block).
func decideOwner(m metav1.Object, deps []dependentInfo) ownerVerb {
	if m.GetDeletionTimestamp() == nil {
		return ownerNothing
	}
	fs := m.GetFinalizers()
	switch {
	case slices.Contains(fs, metav1.FinalizerOrphanDependents):
		return ownerOrphan
	case slices.Contains(fs, metav1.FinalizerDeleteDependents):
		for _, d := range deps {
			if d.Blocks {
				return ownerDeleteDeps
			}
		}
		return ownerFinishDeletion
	}
	return ownerNothing
}
