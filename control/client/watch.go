package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// Watch opens a watch on the resource of proto's type (an object or a list)
// in ns ("" = all namespaces).
func (c *Client) Watch(ctx context.Context, proto runtime.Object, ns string, opts ListOptions) (watch.Interface, error) {
	info, err := InfoFor(proto)
	if err != nil {
		return nil, err
	}
	q := opts.query()
	q.Set("watch", "true")
	body, err := c.Open(ctx, Request{Method: http.MethodGet, Path: info.Path(ns, "", ""), Query: q})
	if err != nil {
		return nil, err
	}
	obj := reflect.TypeOf(objectFor(proto)).Elem()
	dec := &eventDecoder{body: body, dec: json.NewDecoder(body), newObj: func() runtime.Object {
		return reflect.New(obj).Interface().(runtime.Object)
	}}
	return watch.NewStreamWatcher(dec, dec), nil
}

// objectFor returns an object of the item type when proto is a list.
func objectFor(proto runtime.Object) runtime.Object {
	info, _ := InfoFor(proto)
	o, _, ok := NewObject(info.GVK())
	if !ok {
		return proto
	}
	return o
}

type eventDecoder struct {
	body   io.ReadCloser
	dec    *json.Decoder
	newObj func() runtime.Object
}

type wireEvent struct {
	Type   watch.EventType `json:"type"`
	Object json.RawMessage `json:"object"`
}

func (d *eventDecoder) Decode() (watch.EventType, runtime.Object, error) {
	var ev wireEvent
	if err := d.dec.Decode(&ev); err != nil {
		return "", nil, err
	}
	if ev.Type == watch.Error {
		st := &metav1.Status{}
		if err := json.Unmarshal(ev.Object, st); err != nil {
			return "", nil, fmt.Errorf("decoding watch error: %w", err)
		}
		return ev.Type, st, nil
	}
	obj := d.newObj()
	if err := decodeInto(ev.Object, obj); err != nil {
		return "", nil, err
	}
	return ev.Type, obj, nil
}

func (d *eventDecoder) Close() { d.body.Close() }

// AsObject satisfies watch.Reporter: a broken stream becomes an error event.
func (d *eventDecoder) AsObject(err error) runtime.Object {
	return &metav1.Status{Status: metav1.StatusFailure, Message: err.Error(), Reason: metav1.StatusReasonInternalError, Code: 500}
}

// ListWatch returns a client-go ListerWatcher for lists of list's type in
// ns, narrowed by tweak (may be nil).
func (c *Client) ListWatch(list runtime.Object, ns string, tweak func(*ListOptions)) cache.ListerWatcher {
	toOpts := func(o metav1.ListOptions) ListOptions {
		lo := ListOptions{LabelSelector: o.LabelSelector, FieldSelector: o.FieldSelector, ResourceVersion: o.ResourceVersion,
			TimeoutSeconds: o.TimeoutSeconds, AllowWatchBookmarks: o.AllowWatchBookmarks, SendInitialEvents: o.SendInitialEvents}
		if tweak != nil {
			tweak(&lo)
		}
		return lo
	}
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			out := list.DeepCopyObject()
			return out, c.List(ctx, ns, out, toOpts(o))
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return c.Watch(ctx, list, ns, toOpts(o))
		},
	}
}

// NewInformer returns a shared index informer (indexed by namespace) over
// objects of obj's type; list must be the matching list type.
func (c *Client) NewInformer(obj, list runtime.Object, ns string, resync time.Duration, tweak func(*ListOptions)) cache.SharedIndexInformer {
	return cache.NewSharedIndexInformer(c.ListWatch(list, ns, tweak), obj, resync,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
}
