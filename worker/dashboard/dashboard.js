// ingressd dashboard: polls /api/* every 1.5 s and redraws the tables.
// Plain DOM, no framework; text only goes in through textContent.
"use strict";

const PERIOD_MS = 1500;
let refreshes = 0;
let last = null;		// {t, requests per endpoint key}

function cell(tr, text, cls) {
	const td = document.createElement("td");
	td.textContent = text === undefined || text === null ? "" : String(text);
	if (cls)
		td.className = cls;
	tr.appendChild(td);
	return td;
}

function set(id, text) {
	document.getElementById(id).textContent = text;
}

function ago(ms) {
	if (!ms)
		return "never";
	const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
	return s + " s ago";
}

function drawStatus(st) {
	set("status-version", st.version);
	set("status-uptime", st.uptime_s + " s");
	set("status-generation", st.generation);
	set("status-applied", st.applied ? "yes" : "no");
	set("status-workers", (st.workers || []).length);
	const p = st.provider || {};
	set("status-provider", p.kind || "-");
	set("status-sync", p.synced ? "synced" : "not synced");
}

function drawRoutes(doc) {
	const tb = document.querySelector("#routes tbody");
	const rows = [];
	for (const r of doc.routes || []) {
		const tr = document.createElement("tr");
		tr.dataset.host = r.host;
		tr.dataset.path = r.path;
		tr.dataset.backend = r.backend;
		cell(tr, r.host);
		cell(tr, r.path);
		cell(tr, r.type);
		cell(tr, r.backend);
		cell(tr, r.source);
		rows.push(tr);
	}
	tb.replaceChildren(...rows);
}

function drawBackends(doc, now) {
	const tb = document.querySelector("#backends tbody");
	const rows = [];
	const seen = {};
	for (const b of doc.backends || []) {
		for (const e of b.details || []) {
			const key = b.name + " " + e.address;
			const tr = document.createElement("tr");
			tr.dataset.backend = b.name;
			tr.dataset.endpoint = e.address;
			tr.dataset.health = e.up ? "up" : "down";
			cell(tr, b.name);
			cell(tr, e.address);
			cell(tr, e.up ? "up" : "down: " + e.health, "health");
			cell(tr, e.last_probe_ms ? ago(e.last_probe_ms) + " (" +
			    e.last_probe + ")" : "none");
			cell(tr, e.in_flight, "num");
			cell(tr, e.requests, "num");
			let rate = "";
			if (last && last.req[key] !== undefined && now > last.t)
				rate = ((e.requests - last.req[key]) * 1000 /
				    (now - last.t)).toFixed(1);
			cell(tr, rate, "num rate");
			cell(tr, e.errors, "num");
			cell(tr, e.ejections, "num");
			seen[key] = e.requests;
			rows.push(tr);
		}
	}
	tb.replaceChildren(...rows);
	last = { t: now, req: seen };
}

async function getJSON(path) {
	const r = await fetch(path, { cache: "no-store" });
	if (!r.ok)
		throw new Error(path + ": HTTP " + r.status);
	return r.json();
}

async function refresh() {
	const note = document.getElementById("refreshed");
	try {
		const [st, rt, be] = await Promise.all([getJSON("/api/status"),
		    getJSON("/api/routes"), getJSON("/api/backends")]);
		const now = Date.now();
		drawStatus(st);
		drawRoutes(rt);
		drawBackends(be, now);
		refreshes++;
		note.dataset.refreshes = String(refreshes);
		note.className = "";
		note.textContent = "Updated " + new Date(now).toLocaleTimeString();
	} catch (err) {
		note.className = "error";
		note.textContent = "Update failed: " + err.message;
	}
	setTimeout(refresh, PERIOD_MS);
}

refresh();
