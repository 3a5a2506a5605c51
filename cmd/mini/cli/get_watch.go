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

// watchGroup is `get -w`: list (unless --watch-only), then watch from the
// list's resourceVersion and print each change as it comes, until ctx
// ends (Ctrl-C). A watch the server closes is reopened where it stopped.
func (o *getOptions) watchGroup(ctx context.Context, st streams, s *session, g getGroup) error {
	p := &watchPrinter{o: o, st: st, r: g.r, multiNS: o.kf.allNamespaces && g.r.Namespaced}
	q := o.listQuery()
	path := o.listPath(s, g)
	if len(g.names) == 1 {
		sel := "metadata.name=" + g.names[0]
		if o.field != "" {
			sel = o.field + "," + sel
		}
		q.Set("fieldSelector", sel)
		path = g.r.Path(s.nsOf(g.r), "", "")
	}
	accept := "application/json"
	if p.table() {
		accept = tableAccept
	}
	data, err := s.c.Do(ctx, client.Request{Method: http.MethodGet, Path: path, Query: q, Accept: accept})
	if err != nil {
		return kubeErr(err)
	}
	rv, err := p.initial(data)
	if err != nil {
		return err
	}
	for {
		wq := url.Values{}
		for k, v := range q {
			wq[k] = v
		}
		wq.Set("watch", "true")
		wq.Set("resourceVersion", rv)
		wq.Set("allowWatchBookmarks", "true")
		body, err := s.c.Open(ctx, client.Request{Method: http.MethodGet, Path: path, Query: wq, Accept: accept})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return kubeErr(err)
		}
		rv, err = p.stream(body, rv)
		body.Close()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// watchPrinter prints a watch's listing and events in one format.
type watchPrinter struct {
	o       *getOptions
	st      streams
	r       client.Resource
	multiNS bool
	al      aligner
	cols    []metav1.TableColumnDefinition // from the first table (later events omit them)
	headed  bool                           // the header row is out
	count   int                            // objects printed (YAML separators)
}

func (p *watchPrinter) table() bool { return p.o.output == "" || p.o.output == "wide" }

// initial prints the first listing and returns its resourceVersion.
func (p *watchPrinter) initial(data []byte) (string, error) {
	if p.table() {
		t, err := decodeTable(data)
		if err != nil {
			return "", err
		}
		if !p.o.watchOnly {
			if err := p.printTable(t); err != nil {
				return "", err
			}
		}
		return t.ResourceVersion, nil
	}
	var list struct {
		Metadata metav1.ListMeta   `json:"metadata"`
		Items    []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		return "", fmt.Errorf("decoding the %s list: %w", p.r.Resource, err)
	}
	if !p.o.watchOnly {
		for _, it := range list.Items {
			if err := p.printObject(withTypeMeta(it, p.r)); err != nil {
				return "", err
			}
		}
	}
	return list.Metadata.ResourceVersion, nil
}

func (p *watchPrinter) printTable(t *metav1.Table) error {
	if len(t.ColumnDefinitions) == 0 {
		t.ColumnDefinitions = p.cols
	} else if p.cols == nil {
		p.cols = t.ColumnDefinitions
	}
	if len(t.Rows) == 0 {
		return nil
	}
	rows := tableRows(t, tableOpts{wide: p.o.output == "wide", namespace: p.multiNS, showLabels: p.o.showLabels,
		noHeaders: p.headed || p.o.noHeaders})
	p.headed = true
	return p.al.write(p.st.out, rows)
}

func (p *watchPrinter) printObject(obj json.RawMessage) error {
	p.count++
	switch p.o.output {
	case "name":
		_, err := fmt.Fprintf(p.st.out, "%s/%s\n", qualifiedKind(p.r), rawMeta(obj).Name)
		return err
	case "yaml":
		if p.count > 1 {
			fmt.Fprintln(p.st.out, "---")
		}
	}
	return printDoc(p.st.out, p.o.output, obj)
}

// stream prints a watch's events until it ends and returns the last
// resourceVersion seen (nil error on a clean end).
func (p *watchPrinter) stream(body io.Reader, rv string) (string, error) {
	dec := json.NewDecoder(body)
	for {
		var ev struct {
			Type   string          `json:"type"`
			Object json.RawMessage `json:"object"`
		}
		if err := dec.Decode(&ev); err != nil {
			if errors.Is(err, io.EOF) {
				return rv, nil
			}
			return rv, fmt.Errorf("reading the watch: %w", err)
		}
		var meta struct {
			Metadata struct {
				ResourceVersion string `json:"resourceVersion"`
			} `json:"metadata"`
		}
		_ = json.Unmarshal(ev.Object, &meta)
		switch ev.Type {
		case "ERROR":
			var status metav1.Status
			_ = json.Unmarshal(ev.Object, &status)
			return rv, &apierrors.StatusError{ErrStatus: status}
		case "BOOKMARK":
		default:
			if err := p.event(ev.Object); err != nil {
				return rv, err
			}
		}
		if meta.Metadata.ResourceVersion != "" {
			rv = meta.Metadata.ResourceVersion
		}
	}
}

func (p *watchPrinter) event(obj json.RawMessage) error {
	if !p.table() {
		return p.printObject(withTypeMeta(obj, p.r))
	}
	t, err := decodeTable(obj)
	if err != nil {
		return err
	}
	return p.printTable(t)
}
