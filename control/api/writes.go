package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metavalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/minicluster/mini/control/store"
)

// writeOpts are the options common to mutating requests.
type writeOpts struct {
	dryRun bool
	fv     fieldValidation
}

func writeOptsOf(r *http.Request) (writeOpts, error) {
	fv, err := fieldValidationOf(r)
	if err != nil {
		return writeOpts{}, err
	}
	o := writeOpts{fv: fv}
	for _, d := range r.URL.Query()["dryRun"] {
		if d != "All" {
			return o, apierrors.NewBadRequest(fmt.Sprintf("dryRun must be All, not %q", d))
		}
		o.dryRun = true
	}
	return o, nil
}

// setTypeMeta stamps the resource's apiVersion and kind on obj.
func setTypeMeta(res *Resource, obj runtime.Object) {
	obj.GetObjectKind().SetGroupVersionKind(res.GroupVersion().WithKind(res.Kind))
}

// decodeRequestObject reads the body into a new object of the resource,
// checking apiVersion and kind.
func decodeRequestObject(w http.ResponseWriter, r *http.Request, res *Resource, o writeOpts) (runtime.Object, error) {
	data, err := readBody(r, res.New)
	if err != nil {
		return nil, err
	}
	return decodeObject(w, data, res, o.fv)
}

func decodeObject(w http.ResponseWriter, data []byte, res *Resource, fv fieldValidation) (runtime.Object, error) {
	tm, err := typeMetaOf(data)
	if err != nil {
		return nil, err
	}
	if tm.APIVersion != "" && tm.APIVersion != res.APIVersion() {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", tm.APIVersion, res.APIVersion()))
	}
	if tm.Kind != "" && tm.Kind != res.Kind {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the kind in the data (%s) does not match the expected kind (%s)", tm.Kind, res.Kind))
	}
	obj := res.New()
	if err := decodeInto(w, data, obj, fv); err != nil {
		return nil, err
	}
	setTypeMeta(res, obj)
	return obj, nil
}

func (s *Server) serveCreate(w http.ResponseWriter, r *http.Request, ri *requestInfo) {
	o, err := writeOptsOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	obj, err := decodeRequestObject(w, r, ri.res, o)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, raw, err := s.create(r.Context(), ri.res, ri.namespace, obj, o)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeStored(w, r, http.StatusCreated, out, raw)
}

const generateSuffixChars = "bcdfghjklmnpqrstvwxz2456789"

func (s *Server) generateName(base string) string {
	const maxBase = 63 - 5
	if len(base) > maxBase {
		base = base[:maxBase]
	}
	s.rndMu.Lock()
	defer s.rndMu.Unlock()
	b := []byte(base)
	for i := 0; i < 5; i++ {
		b = append(b, generateSuffixChars[s.rnd.IntN(len(generateSuffixChars))])
	}
	return string(b)
}

// nameValidator returns the naming rule of a kind.
func nameValidator(kind string) metavalidation.ValidateNameFunc {
	switch kind {
	case "Namespace":
		return metavalidation.NameIsDNSLabel
	case "Service":
		return metavalidation.NameIsDNS1035Label
	default:
		return metavalidation.NameIsDNSSubdomain
	}
}

// checkNamespace refuses writes into a missing or terminating namespace.
func (s *Server) checkNamespace(res *Resource, ns string) error {
	if !res.Namespaced {
		return nil
	}
	e, ok := s.store.Get(namespaceKey(ns))
	if !ok {
		return apierrors.NewNotFound(corev1.Resource("namespaces"), ns)
	}
	var n corev1.Namespace
	if err := json.Unmarshal(e.Value, &n); err == nil && n.DeletionTimestamp != nil && res.Kind != "Event" {
		return apierrors.NewForbidden(res.GroupResource(), "",
			fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns))
	}
	return nil
}

func namespaceKey(ns string) string { return "core/namespaces/" + ns }

// create stores a new object after defaulting and validating it.
func (s *Server) create(ctx context.Context, res *Resource, ns string, obj runtime.Object, o writeOpts) (runtime.Object, []byte, error) {
	m := objectMeta(obj)
	if res.Namespaced {
		if m.Namespace == "" {
			m.Namespace = ns
		}
		if ns != "" && m.Namespace != ns {
			return nil, nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
		if m.Namespace == "" {
			return nil, nil, apierrors.NewBadRequest("a namespace is required to create " + res.Name)
		}
	} else {
		m.Namespace = ""
	}
	generated := m.Name == "" && m.GenerateName != ""
	if generated {
		m.Name = s.generateName(m.GenerateName)
	}
	m.UID = types.UID(uuid.NewUUID())
	m.CreationTimestamp = metav1.NewTime(s.now().Truncate(1e9))
	m.ResourceVersion = ""
	m.DeletionTimestamp, m.DeletionGracePeriodSeconds = nil, nil
	m.SelfLink = ""
	m.ManagedFields = nil
	m.Generation = 0
	if hasSpec(obj) && !res.NoGeneration {
		m.Generation = 1
	}
	if res.HasSubresource("status") && res.Kind != "Node" {
		resetField(obj, "Status")
	}
	if res.PrepareCreate != nil {
		res.PrepareCreate(obj)
	}
	if res.Default != nil {
		res.Default(obj)
	}
	errs := metavalidation.ValidateObjectMeta(m, res.Namespaced, nameValidator(res.Kind), field.NewPath("metadata"))
	if res.Validate != nil {
		errs = append(errs, res.Validate(obj)...)
	}
	if len(errs) > 0 {
		return nil, nil, apierrors.NewInvalid(res.GroupVersion().WithKind(res.Kind).GroupKind(), m.Name, errs)
	}
	if err := s.checkNamespace(res, m.Namespace); err != nil {
		return nil, nil, err
	}
	release, err := s.allocateFor(res, obj, nil, o.dryRun)
	if err != nil {
		return nil, nil, err
	}
	if o.dryRun {
		return obj, nil, nil
	}
	var (
		rev  int64
		ents []store.Entry
	)
	for attempt := 0; ; attempt++ {
		var enc *encoded
		if enc, err = encodeObject(res, obj, "0"); err != nil {
			break
		}
		rev, ents, err = s.store.Txn(ctx, store.Op{Key: res.key(m.Namespace, m.Name), Cond: store.CondAbsent, Build: enc.build})
		if errors.Is(err, store.ErrExists) && generated && attempt < 5 {
			m.Name = s.generateName(m.GenerateName)
			continue
		}
		break
	}
	if err != nil {
		release()
		if errors.Is(err, store.ErrExists) {
			return nil, nil, apierrors.NewAlreadyExists(res.GroupResource(), m.Name)
		}
		return nil, nil, apierrors.NewInternalError(err)
	}
	m.ResourceVersion = strconv.FormatInt(rev, 10)
	return obj, ents[0].Value, nil
}

func (s *Server) serveUpdate(w http.ResponseWriter, r *http.Request, ri *requestInfo) {
	o, err := writeOptsOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	obj, err := decodeRequestObject(w, r, ri.res, o)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	m := objectMeta(obj)
	if m.Name != "" && m.Name != ri.name {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.Name, ri.name)))
		return
	}
	if ri.res.Namespaced && m.Namespace != "" && m.Namespace != ri.namespace {
		s.writeError(w, r, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request"))
		return
	}
	out, raw, err := s.update(r.Context(), ri, func(runtime.Object) (runtime.Object, error) { return obj, nil }, o)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeStored(w, r, http.StatusOK, out, raw)
}

// mutateFunc returns the desired object given a private copy of the current.
type mutateFunc func(cur runtime.Object) (runtime.Object, error)

func conflict(res *Resource, name string, err error) error {
	return apierrors.NewConflict(res.GroupResource(), name,
		errors.New("the object has been modified; please apply your changes to the latest version and try again"))
}

// update applies mutate to the current object and stores the result with a
// compare-and-swap. A mutated object that carries a resourceVersion other
// than the current one is a conflict; one that carries none (or the current
// one, as patches do) is retried on concurrent writes.
func (s *Server) update(ctx context.Context, ri *requestInfo, mutate mutateFunc, o writeOpts) (runtime.Object, []byte, error) {
	res := ri.res
	for attempt := 0; ; attempt++ {
		cur, e, err := s.getObject(res, ri.namespace, ri.name)
		if err != nil {
			return nil, nil, err
		}
		curRV := strconv.FormatInt(e.ModRev, 10)
		obj, err := mutate(cur.DeepCopyObject())
		if err != nil {
			return nil, nil, err
		}
		setTypeMeta(res, obj)
		rv := objectMeta(obj).ResourceVersion
		if rv != "" && rv != curRV {
			return nil, nil, conflict(res, ri.name, nil)
		}
		retryable := rv == "" || ri.patch
		// An update without a resourceVersion is unconditional: it applies
		// to the current version (and passes metadata validation as such).
		objectMeta(obj).ResourceVersion = curRV
		obj, deleteNow, err := s.prepareUpdate(ri, obj, cur)
		if err != nil {
			return nil, nil, err
		}
		objectMeta(obj).ResourceVersion = curRV
		enc, err := encodeObject(res, obj, curRV)
		if err != nil {
			return nil, nil, apierrors.NewInternalError(err)
		}
		if !deleteNow && bytes.Equal(enc.data, e.Value) {
			return cur, e.Value, nil // no-op: no new revision, as Kubernetes does
		}
		release, err := s.allocateFor(res, obj, cur, o.dryRun)
		if err != nil {
			return nil, nil, err
		}
		if o.dryRun {
			return obj, nil, nil
		}
		op := store.Op{Key: e.Key, Cond: store.CondModRev, ModRev: e.ModRev, Delete: deleteNow, Build: enc.build}
		rev, ents, err := s.store.Txn(ctx, op)
		if err == nil {
			if deleteNow {
				s.releaseFor(res, obj)
			} else {
				s.releaseReplaced(res, obj, cur)
			}
			objectMeta(obj).ResourceVersion = strconv.FormatInt(rev, 10)
			return obj, ents[0].Value, nil
		}
		if release != nil {
			release()
		}
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, nil, apierrors.NewNotFound(res.GroupResource(), ri.name)
		case errors.Is(err, store.ErrConflict):
			if retryable && attempt < 16 {
				continue
			}
			return nil, nil, conflict(res, ri.name, err)
		default:
			return nil, nil, apierrors.NewInternalError(err)
		}
	}
}

// prepareUpdate carries over what a client cannot change, applies
// subresource rules and defaults, bumps generation and validates. It reports
// whether the update completes a pending deletion.
func (s *Server) prepareUpdate(ri *requestInfo, obj, cur runtime.Object) (runtime.Object, bool, error) {
	res := ri.res
	nm, om := objectMeta(obj), objectMeta(cur)
	if nm.UID != "" && nm.UID != om.UID {
		return nil, false, apierrors.NewConflict(res.GroupResource(), ri.name,
			fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", nm.UID, om.UID))
	}
	switch ri.sub {
	case "status":
		next := cur.DeepCopyObject()
		copyField(next, obj, "Status")
		objectMeta(next).ResourceVersion = nm.ResourceVersion
		obj, nm = next, objectMeta(next)
	case "binding":
		next := cur.DeepCopyObject().(*corev1.Pod)
		next.Spec.NodeName = obj.(*corev1.Pod).Spec.NodeName
		next.Status = obj.(*corev1.Pod).Status
		obj, nm = next, &next.ObjectMeta
	case "finalize":
		next := cur.DeepCopyObject().(*corev1.Namespace)
		next.Spec.Finalizers = obj.(*corev1.Namespace).Spec.Finalizers
		obj, nm = next, &next.ObjectMeta
	default:
		if res.HasSubresource("status") {
			copyField(obj, cur, "Status")
		}
	}
	nm.Name, nm.Namespace, nm.UID = om.Name, om.Namespace, om.UID
	nm.CreationTimestamp = om.CreationTimestamp
	nm.DeletionTimestamp, nm.DeletionGracePeriodSeconds = om.DeletionTimestamp, om.DeletionGracePeriodSeconds
	nm.GenerateName = om.GenerateName
	nm.SelfLink, nm.ManagedFields = "", nil
	if res.Default != nil {
		res.Default(obj)
	}
	nm.Generation = om.Generation
	if hasSpec(obj) && !res.NoGeneration && !specEqual(obj, cur) {
		nm.Generation = om.Generation + 1
	}
	errs := metavalidation.ValidateObjectMetaUpdate(nm, om, field.NewPath("metadata"))
	errs = append(errs, metavalidation.ValidateObjectMeta(nm, res.Namespaced, nameValidator(res.Kind), field.NewPath("metadata"))...)
	if res.ValidateUpdate != nil && ri.sub == "" {
		errs = append(errs, res.ValidateUpdate(obj, cur)...)
	}
	// Status and binding writes cannot change the spec: the object was valid
	// when stored, so only main-resource writes are validated again.
	if res.Validate != nil && ri.sub == "" {
		errs = append(errs, res.Validate(obj)...)
	}
	if len(errs) > 0 {
		return nil, false, apierrors.NewInvalid(res.GroupVersion().WithKind(res.Kind).GroupKind(), ri.name, errs)
	}
	return obj, deletionComplete(obj), nil
}

// deletionComplete reports whether an object marked for deletion has nothing
// left that holds it (finalizers, a namespace's spec finalizers, a pod still
// running on a node).
func deletionComplete(obj runtime.Object) bool {
	m := objectMeta(obj)
	if m.DeletionTimestamp == nil || len(m.Finalizers) > 0 {
		return false
	}
	switch o := obj.(type) {
	case *corev1.Namespace:
		return len(o.Spec.Finalizers) == 0
	case *corev1.Pod:
		return podDeletableNow(o, m.DeletionGracePeriodSeconds)
	}
	return true
}

// podDeletableNow reports whether a pod can be removed without waiting for
// its kubelet: it never ran, it finished, or no grace is left.
func podDeletableNow(p *corev1.Pod, grace *int64) bool {
	return p.Spec.NodeName == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed ||
		grace == nil || *grace == 0
}

type patchKind int

const (
	jsonPatch patchKind = iota
	mergePatch
	strategicPatch
)

func patchKindOf(r *http.Request) (patchKind, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case string(types.JSONPatchType):
		return jsonPatch, nil
	case string(types.MergePatchType):
		return mergePatch, nil
	case string(types.StrategicMergePatchType):
		return strategicPatch, nil
	case string(types.ApplyYAMLPatchType), string(types.ApplyCBORPatchType):
		return 0, unsupportedMediaType(ct + " (server-side apply is not supported by mini; use client-side kubectl apply)")
	default:
		return 0, unsupportedMediaType(ct)
	}
}

func (s *Server) servePatch(w http.ResponseWriter, r *http.Request, ri *requestInfo) {
	o, err := writeOptsOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	kind, err := patchKindOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := readBody(r, nil)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ri.patch = true
	out, raw, err := s.update(r.Context(), ri, func(cur runtime.Object) (runtime.Object, error) {
		return applyPatch(w, ri.res, cur, kind, body, o.fv)
	}, o)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeStored(w, r, http.StatusOK, out, raw)
}

// applyPatch applies a patch document to cur and decodes the result.
func applyPatch(w http.ResponseWriter, res *Resource, cur runtime.Object, kind patchKind, patch []byte, fv fieldValidation) (runtime.Object, error) {
	setTypeMeta(res, cur)
	curJSON, err := json.Marshal(cur)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	var patched []byte
	switch kind {
	case jsonPatch:
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, apierrors.NewBadRequest("invalid JSON patch: " + err.Error())
		}
		patched, err = p.Apply(curJSON)
		if err != nil {
			return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "patch", res.GroupResource(), objectMeta(cur).Name, "the JSON patch could not be applied: "+err.Error(), 0, false)
		}
	case mergePatch:
		if !json.Valid(patch) {
			return nil, apierrors.NewBadRequest("the merge patch is not valid JSON")
		}
		patched, err = jsonpatch.MergePatch(curJSON, patch)
		if err != nil {
			return nil, apierrors.NewBadRequest("invalid merge patch: " + err.Error())
		}
	case strategicPatch:
		if !json.Valid(patch) {
			return nil, apierrors.NewBadRequest("the strategic merge patch is not valid JSON")
		}
		patched, err = strategicpatch.StrategicMergePatch(curJSON, patch, res.New())
		if err != nil {
			if strings.Contains(err.Error(), "unable to find api field") && fv != fvStrict {
				// Unknown fields: fall back to a merge patch so Warn and
				// Ignore behave as for other patch types.
				patched, err = jsonpatch.MergePatch(curJSON, patch)
			}
			if err != nil {
				return nil, apierrors.NewBadRequest("invalid strategic merge patch: " + err.Error())
			}
		}
	}
	return decodeObject(w, patched, res, fv)
}
