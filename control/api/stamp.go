package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/minicluster/mini/control/store"
)

// encoded is an object's JSON encoding made in the request's goroutine,
// with its resourceVersion left to be stamped by the store's committer, so
// that the single committer does not encode objects.
type encoded struct {
	data  []byte
	at    int // offset of the resourceVersion value (inside its quotes)
	n     int // length of the value encoded there
	attrs any
}

// encodeObject encodes obj with resourceVersion rv (which must not be
// empty) and finds where the value sits: the first
// "resourceVersion":"rv" of the document, since apiVersion, kind and the
// metadata fields before it (name, generateName, namespace, uid) cannot
// hold quotes.
func encodeObject(res *Resource, obj runtime.Object, rv string) (*encoded, error) {
	m := objectMeta(obj)
	old := m.ResourceVersion
	m.ResourceVersion = rv
	data, err := json.Marshal(obj)
	m.ResourceVersion = old
	if err != nil {
		return nil, err
	}
	needle := `"resourceVersion":"` + rv + `"`
	i := bytes.Index(data, []byte(needle))
	if i < 0 {
		return nil, fmt.Errorf("encoded %s has no resourceVersion", res.Kind)
	}
	return &encoded{data: data, at: i + len(needle) - len(rv) - 1, n: len(rv), attrs: attrsOf(res, obj)}, nil
}

// withRev returns the encoding with rev as resourceVersion.
func (e *encoded) withRev(rev int64) []byte {
	r := strconv.AppendInt(nil, rev, 10)
	out := make([]byte, 0, len(e.data)-e.n+len(r))
	out = append(out, e.data[:e.at]...)
	out = append(out, r...)
	return append(out, e.data[e.at+e.n:]...)
}

// build is the store callback that stamps the revision.
func (e *encoded) build(rev int64, _ *store.Entry) ([]byte, any, error) {
	return e.withRev(rev), e.attrs, nil
}
