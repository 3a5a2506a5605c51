package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// ApplyResult says what Apply did to an object.
type ApplyResult string

// Apply results, worded as kubectl prints them.
const (
	Created    ApplyResult = "created"
	Configured ApplyResult = "configured"
	Unchanged  ApplyResult = "unchanged"
)

// LastApplied is the annotation client-side apply keeps, as kubectl does,
// so that mini apply and kubectl apply can take turns on the same objects.
const LastApplied = corev1.LastAppliedConfigAnnotation

// Apply creates the manifest's object or patches it toward the manifest with
// kubectl's three-way strategic merge (last applied, manifest, live).
// Namespaced objects without a namespace go to defaultNS.
func (c *Client) Apply(ctx context.Context, m Manifest, defaultNS string) (ApplyResult, error) {
	var obj map[string]any
	if err := json.Unmarshal(m.JSON, &obj); err != nil {
		return "", fmt.Errorf("%s: %w", m, err)
	}
	meta, _ := obj["metadata"].(map[string]any)
	ns := m.NS
	if m.Info.Namespaced {
		if ns == "" {
			ns = defaultNS
			meta["namespace"] = ns
		}
	} else {
		delete(meta, "namespace")
		ns = ""
	}
	// The annotation holds the object as applied, without itself, encoded
	// exactly as kubectl encodes it (with an empty annotations map).
	ann, _ := meta["annotations"].(map[string]any)
	if ann == nil {
		ann = map[string]any{}
		meta["annotations"] = ann
	}
	delete(ann, LastApplied)
	original, err := json.Marshal(obj)
	if err != nil {
		return "", err
	}
	ann[LastApplied] = string(original) + "\n"
	modified, err := json.Marshal(obj)
	if err != nil {
		return "", err
	}

	live, _, _ := NewObject(m.GVK)
	err = c.Get(ctx, ns, m.Name, live)
	if apierrors.IsNotFound(err) {
		_, err := c.Do(ctx, Request{Method: http.MethodPost, Path: m.Info.Path(ns, "", ""), Body: modified})
		if err != nil {
			return "", err
		}
		return Created, nil
	}
	if err != nil {
		return "", err
	}
	liveJSON, err := json.Marshal(live)
	if err != nil {
		return "", err
	}
	var last []byte
	if a := objectAnnotations(live)[LastApplied]; a != "" {
		last = []byte(a)
	}
	typed, _, _ := NewObject(m.GVK)
	meta2, err := strategicpatch.NewPatchMetaFromStruct(typed)
	if err != nil {
		return "", err
	}
	patch, err := strategicpatch.CreateThreeWayMergePatch(last, modified, liveJSON, meta2, true)
	if err != nil {
		return "", fmt.Errorf("%s: computing the patch: %w", m, err)
	}
	if string(patch) == "{}" {
		return Unchanged, nil
	}
	if _, err := c.Do(ctx, Request{Method: http.MethodPatch, Path: m.Info.Path(ns, m.Name, ""), Body: patch,
		ContentType: string(types.StrategicMergePatchType)}); err != nil {
		return "", err
	}
	return Configured, nil
}

func objectAnnotations(obj any) map[string]string {
	if a, ok := obj.(interface{ GetAnnotations() map[string]string }); ok {
		return a.GetAnnotations()
	}
	return nil
}
