package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	kjson "sigs.k8s.io/json"
)

// replicasOf returns the replicas pointer and label selector of a scalable
// object.
func replicasOf(obj runtime.Object) (**int32, *metav1.LabelSelector, int32, bool) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return &o.Spec.Replicas, o.Spec.Selector, o.Status.Replicas, true
	case *appsv1.ReplicaSet:
		return &o.Spec.Replicas, o.Spec.Selector, o.Status.Replicas, true
	case *appsv1.StatefulSet:
		return &o.Spec.Replicas, o.Spec.Selector, o.Status.Replicas, true
	}
	return nil, nil, 0, false
}

func scaleOf(obj runtime.Object) (*autoscalingv1.Scale, error) {
	rp, sel, statusReplicas, ok := replicasOf(obj)
	if !ok {
		return nil, apierrors.NewBadRequest("object has no scale subresource")
	}
	m := objectMeta(obj)
	sc := &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{Kind: "Scale", APIVersion: "autoscaling/v1"},
		ObjectMeta: metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID,
			ResourceVersion: m.ResourceVersion, CreationTimestamp: m.CreationTimestamp},
		Status: autoscalingv1.ScaleStatus{Replicas: statusReplicas},
	}
	if *rp != nil {
		sc.Spec.Replicas = **rp
	}
	if sel != nil {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err == nil {
			sc.Status.Selector = s.String()
		}
	}
	return sc, nil
}

func (s *Server) serveGetScale(w http.ResponseWriter, r *http.Request, ri *requestInfo) {
	obj, _, err := s.getObject(ri.res, ri.namespace, ri.name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sc, err := scaleOf(obj)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, r, http.StatusOK, sc)
}

// serveUpdateScale writes spec.replicas from a Scale. When patchFn is set it
// computes the new Scale from the current one (PATCH); otherwise the body
// is the new Scale (PUT).
func (s *Server) serveUpdateScale(w http.ResponseWriter, r *http.Request, ri *requestInfo, patchFn func(cur *autoscalingv1.Scale) (*autoscalingv1.Scale, error)) {
	o, err := writeOptsOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var body *autoscalingv1.Scale
	if patchFn == nil {
		data, err := readBody(r, func() runtime.Object { return &autoscalingv1.Scale{} })
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		body = &autoscalingv1.Scale{}
		if err := decodeInto(w, data, body, o.fv); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	sub := *ri
	sub.sub = ""
	sub.patch = patchFn != nil
	out, _, err := s.update(r.Context(), &sub, func(cur runtime.Object) (runtime.Object, error) {
		curScale, err := scaleOf(cur)
		if err != nil {
			return nil, err
		}
		next := body
		if patchFn != nil {
			if next, err = patchFn(curScale); err != nil {
				return nil, err
			}
		}
		if next.Spec.Replicas < 0 {
			return nil, apierrors.NewInvalid(schema.GroupKind{Group: "autoscaling", Kind: "Scale"}, ri.name, field.ErrorList{
				field.Invalid(field.NewPath("spec", "replicas"), next.Spec.Replicas, "must be greater than or equal to 0")})
		}
		rp, _, _, _ := replicasOf(cur)
		n := next.Spec.Replicas
		*rp = &n
		m := objectMeta(cur)
		m.ResourceVersion = next.ResourceVersion
		return cur, nil
	}, o)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sc, _ := scaleOf(out)
	s.writeObject(w, r, http.StatusOK, sc)
}

func (s *Server) servePatchScale(w http.ResponseWriter, r *http.Request, ri *requestInfo) {
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
	scaleRes := &Resource{Group: "autoscaling", Version: "v1", Name: "scale", Kind: "Scale",
		New: func() runtime.Object { return &autoscalingv1.Scale{} }}
	fv, _ := fieldValidationOf(r)
	s.serveUpdateScale(w, r, ri, func(cur *autoscalingv1.Scale) (*autoscalingv1.Scale, error) {
		out, err := applyPatch(w, scaleRes, cur, kind, body, fv)
		if err != nil {
			return nil, err
		}
		return out.(*autoscalingv1.Scale), nil
	})
}

// serveBinding assigns a pod to a node (the scheduler's write).
func (s *Server) serveBinding(w http.ResponseWriter, r *http.Request, ri *requestInfo) {
	o, err := writeOptsOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	data, err := readBody(r, func() runtime.Object { return &corev1.Binding{} })
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var b corev1.Binding
	if err := kjson.UnmarshalCaseSensitivePreserveInts(data, &b); err != nil {
		s.writeError(w, r, apierrors.NewBadRequest(decodeErrorMessage(data, err)))
		return
	}
	if b.Target.Name == "" || (b.Target.Kind != "" && b.Target.Kind != "Node") {
		s.writeError(w, r, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), ri.name, field.ErrorList{
			field.Required(field.NewPath("target", "name"), "a Node to bind to is required")}))
		return
	}
	sub := *ri
	sub.sub = "binding" // a binding only touches spec.nodeName and one condition
	_, _, err = s.update(r.Context(), &sub, func(cur runtime.Object) (runtime.Object, error) {
		pod := cur.(*corev1.Pod)
		if b.UID != "" && b.UID != pod.UID {
			return nil, apierrors.NewConflict(corev1.Resource("pods/binding"), ri.name, fmt.Errorf("the pod's UID is %s, not %s", pod.UID, b.UID))
		}
		if pod.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(corev1.Resource("pods/binding"), ri.name,
				fmt.Errorf("pod %s is already assigned to node %q", ri.name, pod.Spec.NodeName))
		}
		if pod.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(corev1.Resource("pods/binding"), ri.name, fmt.Errorf("pod %s is being deleted", ri.name))
		}
		pod.Spec.NodeName = b.Target.Name
		setPodCondition(&pod.Status, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(s.now().Truncate(1e9))})
		return pod, nil
	}, o)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, r, http.StatusCreated, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated})
}

func setPodCondition(st *corev1.PodStatus, c corev1.PodCondition) {
	for i := range st.Conditions {
		if st.Conditions[i].Type == c.Type {
			if st.Conditions[i].Status == c.Status {
				return
			}
			st.Conditions[i] = c
			return
		}
	}
	st.Conditions = append(st.Conditions, c)
}

// serveEviction deletes a pod through the policy/v1 Eviction subresource
// (mini has no PodDisruptionBudgets, so evictions are always allowed).
func (s *Server) serveEviction(w http.ResponseWriter, r *http.Request, ri *requestInfo) {
	o, err := writeOptsOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	data, err := readBody(r, func() runtime.Object { return &policyv1.Eviction{} })
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var ev policyv1.Eviction
	if err := json.Unmarshal(data, &ev); err != nil {
		s.writeError(w, r, apierrors.NewBadRequest(decodeErrorMessage(data, err)))
		return
	}
	opts := metav1.DeleteOptions{}
	if ev.DeleteOptions != nil {
		opts = *ev.DeleteOptions
	}
	if _, _, err := s.deleteObject(r.Context(), ri.res, ri.namespace, ri.name, opts, o); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, r, http.StatusCreated, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated})
}

// servePodLog proxies a log request to the pod's node agent.
func (s *Server) servePodLog(w http.ResponseWriter, r *http.Request, ri *requestInfo) {
	s.proxyToNode(w, r, ri)
}

// servePodStream proxies exec, attach and portforward (upgraded
// connections) to the pod's node agent.
func (s *Server) servePodStream(w http.ResponseWriter, r *http.Request, ri *requestInfo) {
	s.proxyToNode(w, r, ri)
}

// proxyToNode forwards a pod subresource request to the agent of the node
// the pod runs on, at /pods/{namespace}/{name}/{subresource}.
func (s *Server) proxyToNode(w http.ResponseWriter, r *http.Request, ri *requestInfo) {
	obj, _, err := s.getObject(ri.res, ri.namespace, ri.name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pod := obj.(*corev1.Pod)
	if c := r.URL.Query().Get("container"); c != "" && !podHasContainer(pod, c) {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", c, ri.name)))
		return
	}
	if pod.Spec.NodeName == "" {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", ri.name)))
		return
	}
	if s.cfg.Nodes == nil {
		s.writeError(w, r, apierrors.NewServiceUnavailable("no node agents are reachable from this control plane"))
		return
	}
	base, rt, err := s.cfg.Nodes.NodeTransport(r.Context(), pod.Spec.NodeName)
	if err != nil {
		s.writeError(w, r, apierrors.NewServiceUnavailable(fmt.Sprintf("node %s: %v", pod.Spec.NodeName, err)))
		return
	}
	target, err := url.Parse(base)
	if err != nil {
		s.writeError(w, r, apierrors.NewInternalError(err))
		return
	}
	proxy := &httputil.ReverseProxy{
		Transport:     rt,
		FlushInterval: -1,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = target.Scheme, target.Host
			pr.Out.URL.Path = "/pods/" + ri.namespace + "/" + ri.name + "/" + ri.sub
			pr.Out.URL.RawPath = ""
			pr.Out.Host = target.Host
			pr.Out.Header.Del("Authorization")
			pr.Out.Header.Set("X-Mini-Pod-UID", string(pod.UID))
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				return
			}
			s.writeError(w, r, apierrors.NewServiceUnavailable(fmt.Sprintf("node %s: %v", pod.Spec.NodeName, err)))
		},
	}
	proxy.ServeHTTP(w, r)
}

func podHasContainer(p *corev1.Pod, name string) bool {
	for _, c := range p.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range p.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}
