// The Outreach simulator: chat with the bot as a made-up contact (development tool).
//
// Every text a person reads comes from the page (#sim-config), translated on the server.
// Bot text and typed text are only ever set with textContent, never as HTML.
(function () {
  "use strict";

  var STORAGE_KEY = "outreach.simulator.v1";
  var MAX_LOG = 300;
  var TIMEOUT_MS = 30000;
  // How often to look for messages the service sends on its own (reminders).
  var POLL_MS = 3000;

  var config = JSON.parse(document.getElementById("sim-config").textContent);
  var S = config.strings;

  var els = {
    log: document.getElementById("log"),
    empty: document.getElementById("empty"),
    typing: document.getElementById("typing"),
    choices: document.getElementById("choices"),
    error: document.getElementById("error"),
    form: document.getElementById("composer"),
    input: document.getElementById("text"),
    send: document.getElementById("send"),
    contact: document.getElementById("contact-id"),
    newConversation: document.getElementById("new-conversation"),
  };

  var state = load() || fresh();
  var busy = false;

  function newContactId() {
    var bytes = new Uint8Array(6);
    window.crypto.getRandomValues(bytes);
    var hex = Array.prototype.map
      .call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); })
      .join("");
    return "sim-" + hex;
  }

  function fresh() {
    return { contact: newContactId(), log: [], choices: [], outboxAfter: 0 };
  }

  function load() {
    try {
      var saved = JSON.parse(window.localStorage.getItem(STORAGE_KEY) || "null");
      if (saved && typeof saved.contact === "string" && Array.isArray(saved.log)) {
        return {
          contact: saved.contact,
          log: saved.log.filter(function (m) {
            return m && (m.who === "bot" || m.who === "user") && typeof m.text === "string";
          }),
          choices: Array.isArray(saved.choices) ? saved.choices.filter(isString) : [],
          outboxAfter: typeof saved.outboxAfter === "number" ? saved.outboxAfter : 0,
        };
      }
    } catch (e) {
      // Unreadable or unavailable storage: start afresh.
    }
    return null;
  }

  function save() {
    state.log = state.log.slice(-MAX_LOG);
    try {
      window.localStorage.setItem(STORAGE_KEY, JSON.stringify(state));
    } catch (e) {
      // Storage full or off (private mode): the chat still works, it is just not kept.
    }
  }

  function isString(x) {
    return typeof x === "string";
  }

  function bubble(who, text) {
    var item = document.createElement("div");
    item.className = "msg msg--" + who;
    var sender = document.createElement("span");
    sender.className = "visually-hidden";
    sender.textContent = (who === "bot" ? S.bot : S.you) + " ";
    var body = document.createElement("p");
    body.className = "msg__text";
    body.textContent = text; // text, never HTML; CSS keeps its line breaks
    item.appendChild(sender);
    item.appendChild(body);
    els.log.appendChild(item);
    return item;
  }

  function scrollToEnd() {
    var last = els.log.lastElementChild;
    if (last && last.scrollIntoView) last.scrollIntoView({ block: "end" });
  }

  function renderChoices() {
    els.choices.textContent = "";
    var labels = state.log.length ? state.choices : [S.hello];
    labels.forEach(function (label) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "choice";
      button.textContent = label;
      button.disabled = busy;
      button.addEventListener("click", function () {
        send(label, false);
      });
      els.choices.appendChild(button);
    });
    els.choices.hidden = labels.length === 0;
  }

  function renderAll() {
    els.log.textContent = "";
    state.log.forEach(function (m) {
      bubble(m.who, m.text);
    });
    els.empty.hidden = state.log.length > 0;
    els.contact.textContent = state.contact;
    renderChoices();
    scrollToEnd();
  }

  function setBusy(on) {
    busy = on;
    els.send.disabled = on;
    els.newConversation.disabled = on;
    els.send.textContent = on ? S.sending : S.send;
    els.log.setAttribute("aria-busy", on ? "true" : "false");
    els.typing.hidden = !on;
    Array.prototype.forEach.call(els.choices.querySelectorAll("button"), function (b) {
      b.disabled = on;
    });
  }

  function showError(message) {
    els.error.textContent = message;
    els.error.hidden = false;
  }

  function hideError() {
    els.error.textContent = "";
    els.error.hidden = true;
  }

  function HttpError(status) {
    this.status = status;
  }

  function post(text) {
    var controller = window.AbortController ? new AbortController() : null;
    var timer = controller ? window.setTimeout(function () { controller.abort(); }, TIMEOUT_MS) : null;
    return window
      .fetch(config.api, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ contact: state.contact, text: text }),
        signal: controller ? controller.signal : undefined,
      })
      .then(function (response) {
        if (!response.ok) throw new HttpError(response.status);
        return response.json().catch(function () {
          throw new HttpError(response.status);
        });
      })
      .then(function (data) {
        if (!data || !Array.isArray(data.replies)) throw new HttpError(500);
        return data.replies;
      })
      .finally(function () {
        if (timer !== null) window.clearTimeout(timer);
      });
  }

  // The choices to show: those of the latest reply that has any.
  function latestChoices(replies) {
    for (var i = replies.length - 1; i >= 0; i--) {
      var choices = replies[i].choices;
      if (Array.isArray(choices) && choices.length) {
        return choices.map(function (c) { return String(c.label); });
      }
    }
    return [];
  }

  function send(text, fromInput) {
    text = text.trim();
    if (busy || !text) {
      els.input.focus();
      return;
    }
    hideError();
    els.empty.hidden = true;
    var pending = bubble("user", text);
    pending.classList.add("msg--pending");
    scrollToEnd();
    setBusy(true);
    post(text)
      .then(function (replies) {
        pending.classList.remove("msg--pending");
        state.log.push({ who: "user", text: text });
        replies.forEach(function (reply) {
          var replyText = String(reply.text);
          bubble("bot", replyText);
          state.log.push({ who: "bot", text: replyText });
        });
        state.choices = latestChoices(replies);
        save();
        // Clear what was sent, not what was typed meanwhile.
        if (fromInput && els.input.value.trim() === text) els.input.value = "";
      })
      .catch(function (err) {
        // Take the message back; what was typed stays in the box to send again.
        pending.remove();
        els.empty.hidden = state.log.length > 0;
        if (err instanceof HttpError) {
          showError(S.httpError.replace("{status}", String(err.status)));
        } else {
          showError(S.networkError);
        }
      })
      .finally(function () {
        setBusy(false);
        renderChoices();
        scrollToEnd();
        els.input.focus();
      });
  }

  els.form.addEventListener("submit", function (event) {
    event.preventDefault();
    send(els.input.value, true);
  });

  els.newConversation.addEventListener("click", function () {
    if (busy) return;
    state = fresh();
    save();
    hideError();
    renderAll();
    els.input.focus();
  });

  // Reminders and follow-ups arrive without being asked for: fetch them now and then.
  function poll() {
    if (busy || document.hidden) return;
    var contact = state.contact;
    var url = config.outbox + "?contact=" + encodeURIComponent(contact) +
      "&after=" + String(state.outboxAfter || 0);
    window
      .fetch(url, { headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new HttpError(response.status);
        return response.json();
      })
      .then(function (data) {
        // A new conversation began meanwhile, or a send is under way: next time.
        if (contact !== state.contact || busy || !data.messages.length) return;
        els.empty.hidden = true;
        data.messages.forEach(function (m) {
          var text = String(m.text);
          bubble("bot", text);
          state.log.push({ who: "bot", text: text });
          state.outboxAfter = Math.max(state.outboxAfter || 0, Number(m.id));
        });
        state.choices = latestChoices(data.messages);
        save();
        renderChoices();
        scrollToEnd();
      })
      .catch(function () {
        // Quietly try again at the next tick; sending shows errors.
      });
  }

  save();
  renderAll();
  els.input.focus();
  window.setInterval(poll, POLL_MS);
  poll();
})();
