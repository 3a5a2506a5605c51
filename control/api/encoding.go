package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// output is the representation a client asked for in Accept.
type output int

const (
	outJSON output = iota
	outYAML
	outTable
	outPartial // PartialObjectMetadata(List)
)

type negotiated struct {
	out          output
	tableVersion string // v1 or v1beta1 for tables and partial metadata
}

// negotiate picks the first acceptable representation in the Accept header.
func negotiate(r *http.Request) (negotiated, error) {
	accept := r.Header.Get("Accept")
	if accept == "" {
		return negotiated{out: outJSON}, nil
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "application/json", "*/*", "application/*":
			switch params["as"] {
			case "":
				return negotiated{out: outJSON}, nil
			case "Table":
				if params["g"] == "meta.k8s.io" && (params["v"] == "v1" || params["v"] == "v1beta1") {
					return negotiated{out: outTable, tableVersion: params["v"]}, nil
				}
			case "PartialObjectMetadata", "PartialObjectMetadataList":
				if params["g"] == "meta.k8s.io" && (params["v"] == "v1" || params["v"] == "v1beta1") {
					return negotiated{out: outPartial, tableVersion: params["v"]}, nil
				}
			}
		case "application/yaml":
			if params["as"] == "" {
				return negotiated{out: outYAML}, nil
			}
		}
	}
	return negotiated{}, apierrors.NewGenericServerResponse(http.StatusNotAcceptable, "get", schema.GroupResource{}, "",
		fmt.Sprintf("only application/json and application/yaml are served, not %q", accept), 0, false)
}

// writeJSONBytes writes an already encoded JSON document, converting it to
// YAML when asked.
func (s *Server) writeJSONBytes(w http.ResponseWriter, r *http.Request, code int, data []byte) {
	ct := "application/json"
	if n, err := negotiate(r); err == nil && n.out == outYAML {
		y, err := yaml.JSONToYAML(data)
		if err == nil {
			data, ct = y, "application/yaml"
		}
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		w.Write(data)
	}
}

// writeObject encodes obj (setting its apiVersion and kind when known).
func (s *Server) writeObject(w http.ResponseWriter, r *http.Request, code int, obj any) {
	data, err := json.Marshal(obj)
	if err != nil {
		s.writeError(w, r, apierrors.NewInternalError(err))
		return
	}
	s.writeJSONBytes(w, r, code, data)
}

// writeStored answers a write with the stored encoding raw when there is
// one (the bytes a get returns), else with obj encoded (dry runs).
func (s *Server) writeStored(w http.ResponseWriter, r *http.Request, code int, obj runtime.Object, raw []byte) {
	if raw != nil {
		s.writeJSONBytes(w, r, code, raw)
		return
	}
	s.writeObject(w, r, code, obj)
}

// writeError writes err as a metav1.Status with the matching HTTP code.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	st := toStatus(err)
	if st.Code >= 500 {
		s.logf("%s %s: %v", r.Method, r.URL.Path, err)
	}
	data, _ := json.Marshal(st)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	w.Write(data)
}

func toStatus(err error) *metav1.Status {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		st := se.Status()
		st.Kind, st.APIVersion = "Status", "v1"
		if st.Status == "" {
			st.Status = metav1.StatusFailure
		}
		return &st
	}
	st := apierrors.NewInternalError(err).Status()
	st.Kind, st.APIVersion = "Status", "v1"
	return &st
}

// readBody reads a request body as JSON. YAML is converted; Kubernetes
// protobuf (what typed client-go clients such as "kubectl create" send) is
// decoded into newObj's type and re-encoded as JSON; newObj nil refuses it.
func readBody(r *http.Request, newObj func() runtime.Object) ([]byte, error) {
	if r.Body == nil {
		return nil, apierrors.NewBadRequest("the request has no body")
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d bytes", mbe.Limit))
		}
		return nil, apierrors.NewBadRequest("reading the request body: " + err.Error())
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/yaml" || ct == "application/apply-patch+yaml" {
		j, err := yaml.YAMLToJSON(data)
		if err != nil {
			return nil, apierrors.NewBadRequest("the request body is not valid YAML: " + err.Error())
		}
		return j, nil
	}
	if ct == "application/vnd.kubernetes.protobuf" {
		if newObj == nil {
			return nil, unsupportedMediaType(ct)
		}
		return protobufToJSON(data, newObj)
	}
	return bytes.TrimSpace(data), nil
}

// fieldValidation is the request's field validation directive.
type fieldValidation string

const (
	fvIgnore fieldValidation = "Ignore"
	fvWarn   fieldValidation = "Warn"
	fvStrict fieldValidation = "Strict"
)

func fieldValidationOf(r *http.Request) (fieldValidation, error) {
	switch v := r.URL.Query().Get("fieldValidation"); v {
	case "", "Warn":
		return fvWarn, nil
	case "Ignore":
		return fvIgnore, nil
	case "Strict":
		return fvStrict, nil
	default:
		return "", apierrors.NewBadRequest(fmt.Sprintf("fieldValidation must be Ignore, Warn or Strict, not %q", v))
	}
}

// decodeInto decodes JSON into obj, reporting unknown and duplicate fields as
// the directive asks: Strict fails with 400 BadRequest, Warn adds Warning
// headers, Ignore drops them.
func decodeInto(w http.ResponseWriter, data []byte, obj runtime.Object, fv fieldValidation) error {
	if len(data) == 0 {
		return apierrors.NewBadRequest("the request body is empty")
	}
	strictErrs, err := kjson.UnmarshalStrict(data, obj, kjson.DisallowUnknownFields, kjson.DisallowDuplicateFields)
	if err != nil {
		return apierrors.NewBadRequest(decodeErrorMessage(data, err))
	}
	if len(strictErrs) == 0 || fv == fvIgnore {
		return nil
	}
	if fv == fvStrict {
		msgs := make([]string, len(strictErrs))
		for i, e := range strictErrs {
			msgs[i] = e.Error()
		}
		return apierrors.NewBadRequest("strict decoding error: " + strings.Join(msgs, ", "))
	}
	for _, e := range strictErrs {
		w.Header().Add("Warning", fmt.Sprintf("299 - %q", e.Error()))
	}
	return nil
}

// decodeErrorMessage explains a JSON decoding failure with its location.
func decodeErrorMessage(data []byte, err error) string {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) && ute.Field != "" {
		return fmt.Sprintf("invalid value for field %q: cannot use a JSON %s as %s", ute.Field, ute.Value, ute.Type)
	}
	if ok, off := isSyntax(err); ok {
		line := 1 + bytes.Count(data[:min(int(off), len(data))], []byte("\n"))
		return fmt.Sprintf("the body is not valid JSON (line %d, byte %d): %v", line, off, err)
	}
	return "the body could not be decoded: " + err.Error()
}

func isSyntax(err error) (bool, int64) {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return true, se.Offset
	}
	return false, 0
}

// typeMetaOf reads apiVersion and kind from a JSON document.
func typeMetaOf(data []byte) (metav1.TypeMeta, error) {
	var tm metav1.TypeMeta
	if err := json.Unmarshal(data, &tm); err != nil {
		return tm, apierrors.NewBadRequest(decodeErrorMessage(data, err))
	}
	return tm, nil
}

// unsupportedMediaType is a 415 Status naming the refused content type.
func unsupportedMediaType(what string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusUnsupportedMediaType,
		Reason:  metav1.StatusReasonUnsupportedMediaType,
		Message: "the body of the request was in an unknown format: " + what,
	}}
}

var protobufMagic = []byte{0x6b, 0x38, 0x73, 0x00}

// protobufToJSON decodes Kubernetes's protobuf envelope (magic "k8s\0" and a
// runtime.Unknown) into a typed object and returns its JSON.
func protobufToJSON(data []byte, newObj func() runtime.Object) ([]byte, error) {
	if !bytes.HasPrefix(data, protobufMagic) {
		return nil, apierrors.NewBadRequest("the protobuf body lacks the Kubernetes magic prefix")
	}
	var u runtime.Unknown
	if err := u.Unmarshal(data[len(protobufMagic):]); err != nil {
		return nil, apierrors.NewBadRequest("invalid protobuf envelope: " + err.Error())
	}
	obj := newObj()
	pm, ok := obj.(interface{ Unmarshal([]byte) error })
	if !ok {
		return nil, unsupportedMediaType("application/vnd.kubernetes.protobuf")
	}
	if err := pm.Unmarshal(u.Raw); err != nil {
		return nil, apierrors.NewBadRequest("invalid protobuf object: " + err.Error())
	}
	if u.APIVersion != "" || u.Kind != "" {
		obj.GetObjectKind().SetGroupVersionKind(schema.FromAPIVersionAndKind(u.APIVersion, u.Kind))
	}
	out, err := json.Marshal(obj)
	if err != nil {
		// Embedded raw fields (ControllerRevision.data) must hold JSON.
		return nil, apierrors.NewBadRequest("the protobuf object cannot be represented as JSON: " + err.Error())
	}
	return out, nil
}
