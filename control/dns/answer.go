package dns

import (
	"net"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

// ServeDNS answers names of the cluster domain (and PTRs it knows) from
// memory and forwards the rest upstream.
func (s *Server) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	if r.Opcode != mdns.OpcodeQuery || len(r.Question) != 1 {
		m := new(mdns.Msg)
		m.SetRcode(r, mdns.RcodeNotImplemented)
		w.WriteMsg(m)
		return
	}
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	var m *mdns.Msg
	switch {
	case mdns.IsSubDomain(s.zone.domain, name):
		m = s.answerLocal(r, name, q.Qtype)
	case q.Qtype == mdns.TypePTR && s.zone.ptr(name) != "":
		m = s.reply(r)
		m.Answer = append(m.Answer, &mdns.PTR{Hdr: s.hdr(q.Name, mdns.TypePTR), Ptr: s.zone.ptr(name)})
	default:
		m = s.forward(r, isTCP(w))
	}
	if !isTCP(w) {
		size := mdns.MinMsgSize
		if opt := r.IsEdns0(); opt != nil {
			size = max(int(opt.UDPSize()), mdns.MinMsgSize)
		}
		m.Truncate(size)
	}
	w.WriteMsg(m)
}

func isTCP(w mdns.ResponseWriter) bool {
	_, ok := w.RemoteAddr().(*net.TCPAddr)
	return ok
}

// reply starts an authoritative answer to r, echoing its EDNS0 buffer size.
func (s *Server) reply(r *mdns.Msg) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	m.RecursionAvailable = true
	if opt := r.IsEdns0(); opt != nil {
		m.SetEdns0(max(opt.UDPSize(), mdns.MinMsgSize), false)
	}
	return m
}

func (s *Server) hdr(name string, t uint16) mdns.RR_Header {
	return mdns.RR_Header{Name: name, Rrtype: t, Class: mdns.ClassINET, Ttl: s.opts.TTL}
}

func (s *Server) soa() mdns.RR {
	d := s.zone.domain
	return &mdns.SOA{Hdr: s.hdr(d, mdns.TypeSOA), Ns: "ns.dns." + d, Mbox: "hostmaster." + d,
		Serial: 1, Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: s.opts.TTL}
}

// answerLocal answers a name of the cluster domain: its records, NODATA
// when the name exists without records of that type, NXDOMAIN otherwise.
func (s *Server) answerLocal(r *mdns.Msg, name string, qtype uint16) *mdns.Msg {
	m := s.reply(r)
	qname := r.Question[0].Name
	rs := s.zone.lookup(name)
	if rs == nil {
		if ip := podIP(name, s.zone.domain); ip != nil {
			rs = &rrset{a: []net.IP{ip}}
		}
	}
	if rs == nil {
		if !s.structural(name) {
			m.Rcode = mdns.RcodeNameError
		}
		if name == s.zone.domain && qtype == mdns.TypeSOA {
			m.Answer = append(m.Answer, s.soa())
			return m
		}
		m.Ns = append(m.Ns, s.soa())
		return m
	}
	if rs.cname != "" {
		return s.answerCNAME(m, qname, rs.cname, qtype)
	}
	m.Answer = s.records(qname, rs, qtype)
	if qtype == mdns.TypeSRV || qtype == mdns.TypeANY {
		for _, t := range rs.srv {
			if trs := s.zone.lookup(t.target); trs != nil {
				m.Extra = append(m.Extra, s.records(t.target, trs, mdns.TypeA)...)
				m.Extra = append(m.Extra, s.records(t.target, trs, mdns.TypeAAAA)...)
			}
		}
	}
	if len(m.Answer) == 0 {
		m.Ns = append(m.Ns, s.soa())
	}
	return m
}

// records returns rs's records of type qtype (all for ANY) under qname.
func (s *Server) records(qname string, rs *rrset, qtype uint16) []mdns.RR {
	var out []mdns.RR
	if qtype == mdns.TypeA || qtype == mdns.TypeANY {
		for _, ip := range rs.a {
			out = append(out, &mdns.A{Hdr: s.hdr(qname, mdns.TypeA), A: ip})
		}
	}
	if qtype == mdns.TypeAAAA || qtype == mdns.TypeANY {
		for _, ip := range rs.aaaa {
			out = append(out, &mdns.AAAA{Hdr: s.hdr(qname, mdns.TypeAAAA), AAAA: ip})
		}
	}
	if qtype == mdns.TypeSRV || qtype == mdns.TypeANY {
		weight := uint16(100 / max(len(rs.srv), 1))
		for _, t := range rs.srv {
			out = append(out, &mdns.SRV{Hdr: s.hdr(qname, mdns.TypeSRV), Priority: 0, Weight: weight, Port: t.port, Target: t.target})
		}
	}
	return out
}

// answerCNAME answers an ExternalName service: the CNAME, followed (for
// address queries) by the target's addresses, resolved here when the target
// is in the cluster domain and upstream otherwise.
func (s *Server) answerCNAME(m *mdns.Msg, qname, target string, qtype uint16) *mdns.Msg {
	m.Answer = append(m.Answer, &mdns.CNAME{Hdr: s.hdr(qname, mdns.TypeCNAME), Target: target})
	if qtype == mdns.TypeCNAME {
		return m
	}
	q := new(mdns.Msg)
	q.SetQuestion(target, qtype)
	var t *mdns.Msg
	if mdns.IsSubDomain(s.zone.domain, target) {
		t = s.answerLocal(q, target, qtype)
	} else {
		t = s.forward(q, false)
	}
	m.Answer = append(m.Answer, t.Answer...)
	if m.Rcode = t.Rcode; m.Rcode == mdns.RcodeNameError {
		m.Rcode = mdns.RcodeSuccess // the CNAME exists; its target does not
	}
	return m
}

// structural reports whether name is one of the domain's own levels that
// exist without records: <domain>, svc.<domain>, <ns>.svc.<domain>,
// pod.<domain>, <ns>.pod.<domain>.
func (s *Server) structural(name string) bool {
	d := s.zone.domain
	if name == d || name == "svc."+d || name == "pod."+d {
		return true
	}
	for _, kind := range []string{".svc.", ".pod."} {
		if ns, ok := strings.CutSuffix(name, kind+d); ok && !strings.Contains(ns, ".") {
			return true
		}
	}
	return false
}

// forward asks the upstream resolvers; SERVFAIL when none answers.
func (s *Server) forward(r *mdns.Msg, tcp bool) *mdns.Msg {
	if s.fwd != nil {
		m, err := s.fwd.exchange(r, tcp)
		if err == nil {
			return m
		}
		if s.fwd.shouldLog(time.Now()) {
			s.log.Printf("dns: forwarding %s %s: %v", r.Question[0].Name, mdns.TypeToString[r.Question[0].Qtype], err)
		}
	}
	m := new(mdns.Msg)
	m.SetRcode(r, mdns.RcodeServerFailure)
	m.RecursionAvailable = true
	return m
}
