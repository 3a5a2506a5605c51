package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "sigs.k8s.io/json"

	"github.com/minicluster/mini/control/store"
)

// decode turns a stored entry into a fresh typed object.
func decode(res *Resource, e store.Entry) (runtime.Object, error) {
	obj := res.New()
	if err := kjson.UnmarshalCaseSensitivePreserveInts(e.Value, obj); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return obj, nil
}

// getObject reads and decodes one object, or returns a NotFound error.
func (s *Server) getObject(res *Resource, ns, name string) (runtime.Object, store.Entry, error) {
	e, ok := s.store.Get(res.key(ns, name))
	if !ok {
		return nil, e, apierrors.NewNotFound(res.GroupResource(), name)
	}
	obj, err := decode(res, e)
	return obj, e, err
}

func (s *Server) serveGet(w http.ResponseWriter, r *http.Request, ri *requestInfo) {
	n, err := negotiate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	e, ok := s.store.Get(ri.res.key(ri.namespace, ri.name))
	if !ok {
		s.writeError(w, r, apierrors.NewNotFound(ri.res.GroupResource(), ri.name))
		return
	}
	switch n.out {
	case outTable, outPartial:
		obj, err := decode(ri.res, e)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if n.out == outTable {
			s.writeObject(w, r, http.StatusOK, s.table(ri.res, []runtime.Object{obj}, n, tableOptions(r), strconv.FormatInt(e.ModRev, 10)))
		} else {
			s.writeObject(w, r, http.StatusOK, partialMeta(obj, n.tableVersion))
		}
	default:
		s.writeJSONBytes(w, r, http.StatusOK, e.Value)
	}
}

func (s *Server) listSelector(r *http.Request, ri *requestInfo) (selector, error) {
	q := r.URL.Query()
	return parseSelector(ri.res, q.Get("labelSelector"), q.Get("fieldSelector"), ri.name)
}

// listEntries returns the entries of a list request that match its
// selectors, and the revision of the read.
func (s *Server) listEntries(ri *requestInfo, sel selector) ([]store.Entry, int64) {
	if sel.empty() {
		return s.store.List(ri.res.listPrefix(ri.namespace))
	}
	return s.store.ListFunc(ri.res.listPrefix(ri.namespace), func(e *store.Entry) bool { return sel.matches(e.Attrs) })
}

func (s *Server) serveList(w http.ResponseWriter, r *http.Request, ri *requestInfo) {
	n, err := negotiate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sel, err := s.listSelector(r, ri)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := checkListRV(r, s.store.Rev()); err != nil {
		s.writeError(w, r, err)
		return
	}
	ents, rev := s.listEntries(ri, sel)
	rvs := strconv.FormatInt(rev, 10)
	switch n.out {
	case outTable, outPartial:
		objs := make([]runtime.Object, 0, len(ents))
		for _, e := range ents {
			obj, err := decode(ri.res, e)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			objs = append(objs, obj)
		}
		if n.out == outTable {
			s.writeObject(w, r, http.StatusOK, s.table(ri.res, objs, n, tableOptions(r), rvs))
			return
		}
		list := &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadataList", APIVersion: "meta.k8s.io/" + n.tableVersion}}
		list.ResourceVersion = rvs
		for _, o := range objs {
			list.Items = append(list.Items, *partialMeta(o, n.tableVersion))
		}
		s.writeObject(w, r, http.StatusOK, list)
	default:
		var buf bytes.Buffer
		size := 128
		for _, e := range ents {
			size += len(e.Value) + 1
		}
		buf.Grow(size)
		buf.WriteString(`{"kind":`)
		writeJSONString(&buf, ri.res.ListKind)
		buf.WriteString(`,"apiVersion":`)
		writeJSONString(&buf, ri.res.APIVersion())
		buf.WriteString(`,"metadata":{"resourceVersion":"`)
		buf.WriteString(rvs)
		buf.WriteString(`"},"items":[`)
		for i, e := range ents {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.Write(e.Value)
		}
		buf.WriteString("]}")
		s.writeJSONBytes(w, r, http.StatusOK, buf.Bytes())
	}
}

func writeJSONString(buf *bytes.Buffer, s string) {
	b, _ := json.Marshal(s)
	buf.Write(b)
}

// checkListRV validates resourceVersion and resourceVersionMatch on lists.
// mini always serves the latest state, which satisfies "", "0" and
// NotOlderThan; an Exact match of an older revision cannot be served.
func checkListRV(r *http.Request, current int64) error {
	q := r.URL.Query()
	rv, match := q.Get("resourceVersion"), q.Get("resourceVersionMatch")
	if rv == "" {
		if match != "" {
			return apierrors.NewBadRequest("resourceVersionMatch is forbidden unless resourceVersion is provided")
		}
		return nil
	}
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || n < 0 {
		return apierrors.NewBadRequest("invalid resourceVersion " + strconv.Quote(rv))
	}
	switch match {
	case "", "NotOlderThan":
		if n > current {
			return apierrors.NewTimeoutError("Too large resource version: "+rv+", current: "+strconv.FormatInt(current, 10), 1)
		}
	case "Exact":
		if n != current {
			return apierrors.NewResourceExpired("resourceVersion " + rv + " is not the current one and mini keeps no snapshots")
		}
	default:
		return apierrors.NewBadRequest("resourceVersionMatch must be NotOlderThan or Exact, not " + strconv.Quote(match))
	}
	return nil
}

func partialMeta(obj runtime.Object, version string) *metav1.PartialObjectMetadata {
	p := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/" + version}}
	if om := objectMeta(obj); om != nil {
		p.ObjectMeta = *om
	}
	return p
}

// objectMeta returns a typed object's metadata (nil for other objects).
func objectMeta(obj runtime.Object) *metav1.ObjectMeta {
	a, ok := obj.(metav1.ObjectMetaAccessor)
	if !ok {
		return nil
	}
	om, _ := a.GetObjectMeta().(*metav1.ObjectMeta)
	return om
}
