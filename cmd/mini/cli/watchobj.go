package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minicluster/mini/control/client"
)

// objectEvent is one state of a watched object: its JSON, or gone.
type objectEvent struct {
	obj  json.RawMessage // nil when gone
	uid  string
	gone bool
}

// watchObject calls fn with the object's current state and then with each
// change (a watch on its name, reopened when the server ends it) until fn
// says done, fn fails or ctx ends. An object that does not exist is
// reported as gone.
func watchObject(ctx context.Context, s *session, r client.Resource, ns, name string, fn func(objectEvent) (bool, error)) error {
	for {
		data, err := s.c.Do(ctx, client.Request{Method: http.MethodGet, Path: r.Path(ns, name, "")})
		if apierrors.IsNotFound(err) {
			done, err := fn(objectEvent{gone: true})
			if done || err != nil {
				return err
			}
			return fmt.Errorf("%s %q does not exist", r.Resource, name)
		}
		if err != nil {
			return err
		}
		m := rawMeta(data)
		if done, err := fn(objectEvent{obj: data, uid: string(m.UID)}); done || err != nil {
			return err
		}
		done, err := followObject(ctx, s, r, ns, name, m.ResourceVersion, fn)
		if done || err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// followObject watches one object from rv until fn says done or the watch
// ends (done false, nil error: look again).
func followObject(ctx context.Context, s *session, r client.Resource, ns, name, rv string, fn func(objectEvent) (bool, error)) (bool, error) {
	q := url.Values{"watch": {"true"}, "fieldSelector": {"metadata.name=" + name}, "resourceVersion": {rv}}
	body, err := s.c.Open(ctx, client.Request{Method: http.MethodGet, Path: r.Path(ns, "", ""), Query: q})
	if err != nil {
		return false, err
	}
	defer body.Close()
	dec := json.NewDecoder(body)
	for {
		var ev struct {
			Type   string          `json:"type"`
			Object json.RawMessage `json:"object"`
		}
		if err := dec.Decode(&ev); err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return false, nil
			}
			return false, fmt.Errorf("watching %s %q: %w", r.Resource, name, err)
		}
		var oe objectEvent
		switch ev.Type {
		case "ERROR":
			var st metav1.Status
			_ = json.Unmarshal(ev.Object, &st)
			if st.Code == http.StatusGone {
				return false, nil // too old: read the object again
			}
			return false, &apierrors.StatusError{ErrStatus: st}
		case "BOOKMARK":
			continue
		case "DELETED":
			oe = objectEvent{gone: true, uid: string(rawMeta(ev.Object).UID)}
		default:
			oe = objectEvent{obj: ev.Object, uid: string(rawMeta(ev.Object).UID)}
		}
		if done, err := fn(oe); done || err != nil {
			return done, err
		}
	}
}

// rawMeta reads an object's metadata from its JSON.
func rawMeta(raw json.RawMessage) metav1.ObjectMeta {
	var m struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	_ = json.Unmarshal(raw, &m)
	return m.Metadata
}
