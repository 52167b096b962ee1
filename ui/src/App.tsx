import { useEffect, useState, type FormEvent } from "react";
import { BrowserRouter, NavLink, Route, Routes, useLocation } from "react-router-dom";
import { getToken, setToken, type Role } from "./api";
import { ChatPanel } from "./components/Chat";
import { ConnectionBadge } from "./components/ConnectionBadge";
import { DetailDrawer } from "./components/Detail";
import { Drawer } from "./components/Drawer";
import { DrawerProvider, LiveProvider, PeriodProvider, useLive, usePeriod, useRole, useToken, type Method } from "./context";
import { Alerts } from "./pages/Alerts";
import { Data } from "./pages/Data";
import { Overview } from "./pages/Overview";
import { Pipelines } from "./pages/Pipelines";
import { SitePage } from "./pages/SitePage";
import { Sites } from "./pages/Sites";

const NAV = [
  { to: "/", label: "Overview", icon: "◎" },
  { to: "/sites", label: "Sites", icon: "▦" },
  { to: "/alerts", label: "Hotspots & alerts", icon: "⚠" },
  { to: "/chat", label: "Chat", icon: "✎" },
  { to: "/pipelines", label: "Pipelines", icon: "⟳" },
  { to: "/data", label: "Data", icon: "⇪" },
];

function TokenDialog({ onClose }: { onClose: () => void }) {
  const [value, setValue] = useState(getToken() ?? "");
  const save = (e: FormEvent) => {
    e.preventDefault();
    setToken(value.trim() || null);
    onClose();
  };
  return (
    <Drawer title="Sign in" onClose={onClose}>
      <form onSubmit={save} className="stack">
        <p>Paste either token of the platform (both are in <code>.env</code>). <code>READ_TOKEN</code> shows everything
          read-only (the link <code>make up</code> prints carries it); <code>API_TOKEN</code> also lets you acknowledge
          and resolve alerts, start runs and upload data. It stays in this browser only.</p>
        <label htmlFor="token-input">Token</label>
        <input id="token-input" type="password" value={value} onChange={(e) => setValue(e.target.value)} autoComplete="off" />
        <div className="actions">
          <button type="submit">Save</button>
          {getToken() ? <button type="button" className="secondary" onClick={() => { setToken(null); onClose(); }}>Sign out (forget the token)</button> : null}
        </div>
      </form>
    </Drawer>
  );
}

const ROLE_LABEL: Record<Role, { text: string; title: string }> = {
  write: { text: "Signed in", title: "Signed in with the write token: you can change things" },
  read: { text: "Read-only", title: "Read-only token: sign in with the write token to acknowledge, run or upload" },
  unknown: { text: "Token…", title: "Checking the token with the orchestration engine" },
  invalid: { text: "Sign in", title: "The stored token was refused: sign in again" },
  none: { text: "Sign in", title: "Sign in with a read or write token" },
};

function TopBar({ onToken, onChat, onMenu }: { onToken: () => void; onChat: () => void; onMenu: () => void }) {
  const { year, years, setYear, method, setMethod } = usePeriod();
  const live = useLive();
  const role = useRole();
  const label = ROLE_LABEL[role];
  return (
    <header className="topbar">
      <button type="button" className="icon menu" onClick={onMenu} aria-label="Menu">☰</button>
      <span className="brand"><img src="/favicon.svg" alt="" width={22} height={22} /> Carbon Nexus</span>
      <div className="controls">
        <label>Year{" "}
          <select value={year ?? ""} onChange={(e) => setYear(Number(e.target.value))} aria-label="Reporting year" data-testid="year">
            {(years.length ? years : year ? [year] : []).map((y) => <option key={y} value={y}>{y}</option>)}
          </select>
        </label>
        <span className="segmented" role="group" aria-label="Scope 2 method">
          {(["location", "market"] as Method[]).map((m) => (
            <button key={m} type="button" aria-pressed={method === m} onClick={() => setMethod(m)}>{m}-based</button>
          ))}
        </span>
        <ConnectionBadge state={live.states.alerts} detail={live.detail.alerts} />
        <button type="button" className="secondary" onClick={onChat} aria-label="Open the chat panel">Ask</button>
        <button type="button" className={`secondary token${role === "none" || role === "invalid" ? " attention" : ""}`}
                onClick={onToken} aria-label={label.title} title={label.title} data-testid="auth-role" data-role={role}>
          {label.text}
        </button>
      </div>
    </header>
  );
}

function Shell() {
  const [tokenOpen, setTokenOpen] = useState(false);
  const [chatOpen, setChatOpen] = useState(false);
  const [menuOpen, setMenuOpen] = useState(false);
  const location = useLocation();
  useEffect(() => setMenuOpen(false), [location.pathname]);
  return (
    <div className="app">
      <a className="skip" href="#main">Skip to content</a>
      <TopBar onToken={() => setTokenOpen(true)} onChat={() => setChatOpen(true)} onMenu={() => setMenuOpen((o) => !o)} />
      <nav className={`sidebar${menuOpen ? " open" : ""}`} aria-label="Pages">
        {NAV.map((n) => (
          <NavLink key={n.to} to={n.to} end={n.to === "/"} className={({ isActive }) => (isActive ? "active" : undefined)}>
            <span aria-hidden="true" className="nav-icon">{n.icon}</span> {n.label}
          </NavLink>
        ))}
      </nav>
      <main id="main" tabIndex={-1}>
        <Routes>
          <Route path="/" element={<Overview />} />
          <Route path="/sites" element={<Sites />} />
          <Route path="/sites/:id" element={<SitePage />} />
          <Route path="/alerts" element={<Alerts />} />
          <Route path="/chat" element={<div className="page"><header className="page-head"><h1>Chat</h1><p className="muted">Answers come from your data and the knowledge base; every figure cites the query behind it.</p></header><section className="panel"><ChatPanel /></section></div>} />
          <Route path="/pipelines" element={<Pipelines />} />
          <Route path="/data" element={<Data />} />
          <Route path="*" element={<div className="page"><h1>Not found</h1><p><NavLink to="/">Back to the overview</NavLink></p></div>} />
        </Routes>
      </main>
      {chatOpen ? <Drawer title="Ask Carbon Nexus" onClose={() => setChatOpen(false)}><ChatPanel compact /></Drawer> : null}
      {tokenOpen ? <TokenDialog onClose={() => setTokenOpen(false)} /> : null}
      <DetailDrawer />
    </div>
  );
}

export function App() {
  const token = useToken(); // a new token (sign in or out): everything loads again with it
  return (
    <BrowserRouter>
      <PeriodProvider key={token ?? ""}>
        <LiveProvider>
          <DrawerProvider>
            <Shell />
          </DrawerProvider>
        </LiveProvider>
      </PeriodProvider>
    </BrowserRouter>
  );
}
