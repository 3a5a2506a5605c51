package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/minicluster/mini/control/store"
)

// BookmarkInterval is how often an idle watch that allows bookmarks gets one.
var BookmarkInterval = 15 * time.Second

// watchParams are the watch-specific query parameters.
type watchParams struct {
	rv                int64
	rvSet             bool
	allowBookmarks    bool
	sendInitialEvents *bool
	timeout           time.Duration
}

func watchParamsOf(r *http.Request) (watchParams, error) {
	q := r.URL.Query()
	var p watchParams
	if v := q.Get("resourceVersion"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return p, apierrors.NewBadRequest("invalid resourceVersion " + strconv.Quote(v))
		}
		p.rv, p.rvSet = n, n != 0
	}
	p.allowBookmarks = q.Get("allowWatchBookmarks") == "true" || q.Get("allowWatchBookmarks") == "1"
	if v := q.Get("sendInitialEvents"); v != "" {
		b := v == "true" || v == "1"
		p.sendInitialEvents = &b
	}
	match := q.Get("resourceVersionMatch")
	if p.sendInitialEvents != nil {
		var errs []string
		if *p.sendInitialEvents && !p.allowBookmarks {
			errs = append(errs, "sendInitialEvents requires allowWatchBookmarks=true")
		}
		if match != "NotOlderThan" {
			errs = append(errs, "sendInitialEvents requires resourceVersionMatch=NotOlderThan")
		}
		if len(errs) > 0 {
			return p, apierrors.NewInvalid(metav1.SchemeGroupVersion.WithKind("ListOptions").GroupKind(), "", toFieldErrors("sendInitialEvents", errs))
		}
	} else if match != "" {
		return p, apierrors.NewBadRequest("resourceVersionMatch is only allowed on a watch together with sendInitialEvents")
	}
	p.timeout = time.Duration(1800+rand.IntN(1800)) * time.Second
	if v := q.Get("timeoutSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return p, apierrors.NewBadRequest("invalid timeoutSeconds " + strconv.Quote(v))
		}
		if n > 0 {
			p.timeout = time.Duration(n) * time.Second
		}
	}
	return p, nil
}

// watchStream writes watch events on one HTTP response.
type watchStream struct {
	s     *Server
	w     http.ResponseWriter
	fl    http.Flusher
	res   *Resource
	neg   negotiated
	topts metav1.TableOptions
	buf   bytes.Buffer
	first bool
}

func (ws *watchStream) event(typ string, raw []byte) error {
	if ws.neg.out == outTable || ws.neg.out == outPartial {
		obj := ws.res.New()
		if err := json.Unmarshal(raw, obj); err != nil {
			return err
		}
		var conv any
		if ws.neg.out == outTable {
			opts := ws.topts
			opts.NoHeaders = opts.NoHeaders || !ws.first
			conv = ws.s.table(ws.res, []runtime.Object{obj}, ws.neg, opts, objectMeta(obj).ResourceVersion)
		} else {
			conv = partialMeta(obj, ws.neg.tableVersion)
		}
		ws.first = false
		data, err := json.Marshal(conv)
		if err != nil {
			return err
		}
		raw = data
	}
	ws.buf.WriteString(`{"type":"`)
	ws.buf.WriteString(typ)
	ws.buf.WriteString(`","object":`)
	ws.buf.Write(raw)
	ws.buf.WriteString("}\n")
	return nil
}

func (ws *watchStream) flush() error {
	if ws.buf.Len() == 0 {
		return nil
	}
	_, err := ws.w.Write(ws.buf.Bytes())
	ws.buf.Reset()
	ws.fl.Flush()
	return err
}

func (ws *watchStream) bookmark(rev int64, annotations map[string]string) {
	obj := ws.res.New()
	setTypeMeta(ws.res, obj)
	m := objectMeta(obj)
	m.ResourceVersion = strconv.FormatInt(rev, 10)
	m.Annotations = annotations
	data, _ := json.Marshal(obj)
	// Bookmarks always carry the plain object (kubectl never asks for them).
	ws.buf.WriteString(`{"type":"BOOKMARK","object":`)
	ws.buf.Write(data)
	ws.buf.WriteString("}\n")
}

func (ws *watchStream) errorEvent(err error) {
	data, _ := json.Marshal(toStatus(err))
	ws.buf.WriteString(`{"type":"ERROR","object":`)
	ws.buf.Write(data)
	ws.buf.WriteString("}\n")
}

// serveWatch streams changes of a resource, optionally narrowed to a
// namespace, a name and selectors.
func (s *Server) serveWatch(w http.ResponseWriter, r *http.Request, ri *requestInfo) {
	neg, err := negotiate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if neg.out == outYAML {
		neg.out = outJSON
	}
	sel, err := s.listSelector(r, ri)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := watchParamsOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		s.writeError(w, r, apierrors.NewInternalError(errors.New("streaming is not supported by the connection")))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), p.timeout)
	defer cancel()

	ws := &watchStream{s: s, w: w, fl: fl, res: ri.res, neg: neg, topts: tableOptions(r), first: true}
	prefix := ri.res.listPrefix(ri.namespace)
	initial := !p.rvSet || (p.sendInitialEvents != nil && *p.sendInitialEvents)
	var (
		watcher *store.Watcher
		initEnt []store.Entry
		rev     = p.rv
	)
	if p.rvSet && p.rv > s.store.Rev() {
		// A revision this server has not reached: events before it would be
		// skipped, so refuse as the Kubernetes API server does.
		s.writeError(w, r, apierrors.NewTimeoutError("Too large resource version: "+strconv.FormatInt(p.rv, 10)+
			", current: "+strconv.FormatInt(s.store.Rev(), 10), 1))
		return
	}
	if initial {
		initEnt, rev = s.listEntries(ri, sel)
	}
	watcher, err = s.store.Watch(prefix, rev)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
	fl.Flush() // send the headers now: clients wait for them before reading events
	if errors.Is(err, store.ErrCompacted) {
		ws.errorEvent(apierrors.NewResourceExpired("too old resource version: " + strconv.FormatInt(p.rv, 10) + " (" + strconv.FormatInt(s.store.CompactRev(), 10) + ")"))
		ws.flush()
		return
	}
	if err != nil {
		ws.errorEvent(apierrors.NewInternalError(err))
		ws.flush()
		return
	}
	for _, e := range initEnt {
		if err := ws.event("ADDED", e.Value); err != nil {
			return
		}
		if ws.buf.Len() > 64<<10 {
			if ws.flush() != nil {
				return
			}
		}
	}
	if p.sendInitialEvents != nil && *p.sendInitialEvents {
		ws.bookmark(rev, map[string]string{metav1.InitialEventsAnnotationKey: "true"})
	}
	if ws.flush() != nil {
		return
	}
	// Send the headers now even when there was nothing to send: clients
	// wait for them to know that the watch is established.
	fl.Flush()
	s.streamEvents(ctx, ws, watcher, sel, p.allowBookmarks)
}

func (s *Server) streamEvents(ctx context.Context, ws *watchStream, watcher *store.Watcher, sel selector, bookmarks bool) {
	lastBookmark := time.Now()
	for {
		wait, cancel := context.WithTimeout(ctx, time.Until(lastBookmark.Add(BookmarkInterval)))
		evs, progress, err := watcher.Next(wait, 512)
		cancel()
		switch {
		case err == nil:
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			if bookmarks {
				ws.bookmark(progress, nil)
				if ws.flush() != nil {
					return
				}
			}
			lastBookmark = time.Now()
			continue
		case errors.Is(err, store.ErrCompacted):
			ws.errorEvent(apierrors.NewResourceExpired("the watch fell behind the server's event history; relist and watch again"))
			ws.flush()
			return
		default:
			return // client gone, timeout or shutdown: end the stream
		}
		for _, ev := range evs {
			typ, raw := classify(ev, sel)
			if typ == "" {
				continue
			}
			if ws.event(typ, raw) != nil {
				return
			}
		}
		if ws.flush() != nil {
			return
		}
	}
}

// classify turns a store event into a watch event for a selector: an object
// that starts matching is ADDED, one that stops matching is DELETED.
func classify(ev store.Event, sel selector) (string, []byte) {
	now := sel.matches(ev.Entry.Attrs)
	if ev.Type == store.Delete {
		if sel.matches(ev.Entry.Attrs) || (ev.Prev != nil && sel.matches(ev.Prev.Attrs)) {
			return "DELETED", ev.Entry.Value
		}
		return "", nil
	}
	before := ev.Prev != nil && sel.matches(ev.Prev.Attrs)
	switch {
	case now && before:
		return "MODIFIED", ev.Entry.Value
	case now:
		return "ADDED", ev.Entry.Value
	case before:
		return "DELETED", ev.Entry.Value
	}
	return "", nil
}
