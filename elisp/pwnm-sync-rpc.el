;;; pwnm-sync-rpc.el --- The pwnm-sync server: connection, requests, notifications  -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The pwnm-sync authors

;; Author: The pwnm-sync authors
;; Keywords: mail, tools
;; URL: https://github.com/pwnm-sync/pwnm-sync
;; SPDX-License-Identifier: GPL-3.0-or-later

;; This program is free software: you can redistribute it and/or modify
;; it under the terms of the GNU General Public License as published by
;; the Free Software Foundation, either version 3 of the License, or
;; (at your option) any later version.

;; This program is distributed in the hope that it will be useful,
;; but WITHOUT ANY WARRANTY; without even the implied warranty of
;; MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
;; GNU General Public License for more details.

;; You should have received a copy of the GNU General Public License
;; along with this program.  If not, see <https://www.gnu.org/licenses/>.

;;; Commentary:

;; The connection to `pwnm-sync serve' (JSON-RPC over stdio, through
;; jsonrpc.el): starting it, tokens, requests, the notifications it
;; sends, and what it says of the setup.  The lowest of pwnm-sync's
;; files: it requires none of the others.

;;; Code:

(require 'cl-lib)
(require 'seq)
(require 'subr-x)
(require 'url-parse)
(require 'jsonrpc)
(require 'auth-source)

;; Defined in pwnm-sync.el and pwnm-sync-notmuch.el, which load this file.
(defvar pwnm-sync-config-file)
(defvar pwnm-sync-facts-file)
(defvar pwnm-sync-server-command)
(declare-function pwnm-sync--refresh-buffers "pwnm-sync-notmuch")
(declare-function pwnm-sync--refresh-hello "pwnm-sync-notmuch")
(declare-function pwnm-sync--tags-changed "pwnm-sync-notmuch")

;;; Connection to the server
;;
;; Nothing here waits for the server.  The process starts when a command
;; first needs it, `initialize' is answered asynchronously, and commands
;; queue until it is.  Every request goes through `pwnm-sync--request'.

(defclass pwnm-sync-connection (jsonrpc-process-connection)
  ((info :initform nil :accessor pwnm-sync--info
         :documentation "The server's answer to initialize, a plist; nil until it came.")
   (tokens-sent :initform nil :accessor pwnm-sync--tokens-sent
                :documentation "Non-nil once auth-source was asked for this connection's tokens.")
   (server-process :initform nil :accessor pwnm-sync--server-process
                   :documentation "The server's process, to stop it within a bound."))
  :documentation "A connection to a `pwnm-sync serve' process.")

(defvar pwnm-sync-mode)

(defvar pwnm-sync--connection nil
  "The live `pwnm-sync-connection', or nil.")

(defvar pwnm-sync--start-failure nil
  "Why the server last failed to start (a text naming the command), or nil.
Set until a start succeeds: hello shows it and does not start the server
again, which only a command does.")

(defvar pwnm-sync--server-died nil
  "Non-nil when the server ended without being asked to.
Until one starts again: hello does not start it, which only a command
does, so that a server that keeps dying is not started on every redraw.")

(defvar pwnm-sync--exiting nil
  "Non-nil once Emacs is exiting: nothing starts a server any more.")

(defvar pwnm-sync--stderr-buffer nil
  "The buffer of the last server's standard error, for `pwnm-sync-events'.")

(defvar pwnm-sync--waiting nil
  "What waits for `initialize' to be answered: a list of (ON-READY . ON-FAIL).")

(defvar pwnm-sync--sync-running nil
  "Non-nil while a sync runs.")

(defvar pwnm-sync--automatic nil
  "Non-nil while the timer starts a sync: its failures are said once per kind.")

(defvar pwnm-sync--sync-quiet nil
  "Non-nil while a sync the timer started runs: its progress is not shown.")

(defvar pwnm-sync--last-progress 0
  "Time of the last progress message shown, as a float.")

(defconst pwnm-sync--load-dir
  (file-name-directory (or load-file-name buffer-file-name default-directory))
  "Directory this file was loaded from, to find a checkout's build.")

(defun pwnm-sync--server-command ()
  "Return the command to start the server, or signal how to get one."
  (or pwnm-sync-server-command
      (let ((installed (executable-find "pwnm-sync")))
        (and installed (list installed "serve")))
      (let ((built (expand-file-name "../dist/cli.js" pwnm-sync--load-dir))
            (node (executable-find "node")))
        (and node (file-exists-p built) (list node built "serve")))
      (user-error "The pwnm-sync server was not found: run `npm install -g' in a pwnm-sync checkout, or set `pwnm-sync-server-command'")))

(defun pwnm-sync--log (format-string &rest args)
  "Append FORMAT-STRING formatted with ARGS to the *pwnm-sync* buffer."
  (with-current-buffer (get-buffer-create "*pwnm-sync*")
    (unless (derived-mode-p 'special-mode) (special-mode))
    (let ((inhibit-read-only t))
      (goto-char (point-max))
      (insert (format-time-string "%F %T ") (apply #'format format-string args) "\n"))))

(defun pwnm-sync--message (format-string &rest args)
  "Show FORMAT-STRING formatted with ARGS in the echo area, with a prefix."
  (message "[pwnm-sync] %s" (apply #'format format-string args)))

(defun pwnm-sync--error (format-string &rest args)
  "Log and show FORMAT-STRING formatted with ARGS as an error."
  (let ((text (apply #'format format-string args)))
    (pwnm-sync--log "error: %s" text)
    (message "[pwnm-sync] %s (see *pwnm-sync* for details)" text)))

(defun pwnm-sync--dry-run-p (arg)
  "Return non-nil if the prefix argument ARG asks for a dry run.
That is \[negative-argument] (M--).  \[universal-argument] always
means the whole series, so any other prefix argument is refused here
rather than taken for a dry run, as it once was."
  (cond ((null arg) nil)
        ((eq arg '-) t)
        (t (user-error "A dry run is M-- before the command; C-u means the whole series, not a dry run"))))

(defun pwnm-sync--auth-token (url)
  "Return the auth-source secret for the host of URL, or nil.
Only an entry with a secret, and for URL's user when it names one: any
other password stored for that host is not a Patchwork token."
  (let* ((parsed (url-generic-parse-url url))
         (user (url-user parsed))
         (found (car (apply #'auth-source-search :host (url-host parsed) :max 1
                            :require '(:secret)
                            (and user (list :user user)))))
         (secret (plist-get found :secret)))
    (if (functionp secret) (funcall secret) secret)))

(defun pwnm-sync--events-buffer-initargs ()
  "Return the initargs that keep the jsonrpc events buffer empty.
Tokens travel in `setTokens' and must land in no buffer; jsonrpc.el has
no public way to pause its log for one message, so it logs nothing.
jsonrpc 1.0.24 and later take `:events-buffer-config', older ones
`:events-buffer-scrollback-size' (deprecated, with a warning, in newer
ones): the class says which it has."
  (if (slot-exists-p 'jsonrpc-process-connection '-events-buffer-config)
      (list :events-buffer-config (list :size 0))
    (list :events-buffer-scrollback-size 0)))

(defun pwnm-sync--send-tokens (conn)
  "Hand CONN's server the auth-source tokens of its read-only instances.
Only the first time a command needs them: auth-source may ask for a
passphrase, which nothing else should cause.  `setTokens' goes before
the command on the same pipe, and the server takes it first."
  (unless (pwnm-sync--tokens-sent conn)
    (setf (pwnm-sync--tokens-sent conn) t)
    (let ((tokens nil))
      (seq-doseq (inst (plist-get (pwnm-sync--info conn) :instances))
        (when (eq (plist-get inst :readOnly) t)
          (let ((token (pwnm-sync--auth-token (plist-get inst :url))))
            (when token
              (setq tokens (plist-put tokens (intern (concat ":" (plist-get inst :name))) token))))))
      (when tokens
        (jsonrpc-async-request
         conn :setTokens (list :tokens tokens)
         :success-fn (lambda (info) (setf (pwnm-sync--info conn) info))
         :error-fn (lambda (err) (pwnm-sync--error "Handing over the auth-source tokens failed: %s"
                                                   (pwnm-sync--request-error-message err))))))))

(defun pwnm-sync--log-read-only ()
  "Log in *pwnm-sync* the instances an automatic sync ran read-only.
The timer never asks auth-source (it may prompt for a passphrase), so
an instance without a token in the config stays read-only until a
command you run hands the server its auth-source token."
  (let ((conn pwnm-sync--connection))
    (when (and conn (not (pwnm-sync--tokens-sent conn)))
      (seq-doseq (inst (plist-get (pwnm-sync--info conn) :instances))
        (when (eq (plist-get inst :readOnly) t)
          (pwnm-sync--log "automatic sync: %s is read-only: no token in the config, and the timer does not ask auth-source (a sync you start does)"
                          (plist-get inst :name)))))))

(defun pwnm-sync--ready (conn info)
  "Record CONN's `initialize' answer INFO and run what waited for it."
  (setf (pwnm-sync--info conn) info)
  (setq pwnm-sync--start-failure nil
        pwnm-sync--server-died nil)
  (pwnm-sync--update-facts (pwnm-sync--projects-of info))
  (let ((waiting (reverse pwnm-sync--waiting)))
    (setq pwnm-sync--waiting nil)
    (dolist (w waiting) (funcall (car w) conn))))

(defun pwnm-sync--first-stderr-line (buffer)
  "Return the first non-blank line in BUFFER, the server's stderr, or nil."
  (when (buffer-live-p buffer)
    ;; Its pipe may still hold what the server wrote before it ended.
    (let ((pipe (get-buffer-process buffer)))
      (when (process-live-p pipe) (accept-process-output pipe 0.2)))
    (with-current-buffer buffer
      (save-excursion
        (goto-char (point-min))
        (and (re-search-forward "^[ \t]*\\([^ \t\n].*\\)$" nil t)
             (match-string-no-properties 1))))))

(defun pwnm-sync--note-start-failure (command text)
  "Remember that COMMAND did not start, for TEXT; say so once.
The same failure again (an automatic sync, a hello redraw) is only
logged: one message, not one per attempt."
  (let ((failure (format "%s: %s" (mapconcat #'identity command " ") text)))
    (if (equal failure pwnm-sync--start-failure)
        (pwnm-sync--log "the server did not start: %s" failure)
      (setq pwnm-sync--start-failure failure)
      (pwnm-sync--error "The server did not start: %s" failure)
      (pwnm-sync--refresh-hello))
    failure))

(defun pwnm-sync--start-failed (conn command text)
  "Stop CONN, which did not start from COMMAND, and tell what waited for it.
TEXT says why; the server's first line on stderr, when it wrote one,
is added to it."
  (let* ((stderr (pwnm-sync--first-stderr-line pwnm-sync--stderr-buffer))
         (failure (pwnm-sync--note-start-failure
                   command (if stderr (format "%s (stderr: %s)" text stderr) text))))
    (when (eq pwnm-sync--connection conn) (setq pwnm-sync--connection nil))
    ;; The stderr buffer stays, for `pwnm-sync-events'.
    (pwnm-sync--stop conn)
    (let ((waiting (reverse pwnm-sync--waiting)))
      (setq pwnm-sync--waiting nil)
      (dolist (w waiting) (funcall (cdr w) failure)))))

(defun pwnm-sync-events ()
  "Show what the server wrote on its standard error, and the *pwnm-sync* log.
The JSON-RPC events log stays empty: it would hold the tokens."
  (interactive)
  (display-buffer (get-buffer-create "*pwnm-sync*"))
  (if (buffer-live-p pwnm-sync--stderr-buffer)
      (pop-to-buffer pwnm-sync--stderr-buffer)
    (message "[pwnm-sync] The server has not written to stderr (it has not started)")))

(defun pwnm-sync--start ()
  "Start the server and send `initialize', without waiting for its answer."
  (let* ((command (pwnm-sync--server-command))
         (name "pwnm-sync")
         (process nil)
         ;; Emacs forks even for a missing program; writing `initialize'
         ;; to its dead pipe would then be the first sign of it.
         (_ (unless (executable-find (car command))
              (error "%s is not an executable program" (car command))))
         (conn (apply
                #'make-instance
                'pwnm-sync-connection
                :name name
                :notification-dispatcher #'pwnm-sync--dispatch-notification
                ;; From the sentinel: note it, start nothing.
                :on-shutdown (lambda (conn)
                               (when (eq pwnm-sync--connection conn)
                                 (setq pwnm-sync--connection nil
                                       pwnm-sync--sync-running nil
                                       pwnm-sync--server-died t)
                                 (pwnm-sync--log "the server ended; the next command starts it again")))
                :process (lambda ()
                           (setq process
                                 (make-process
                                  :name name
                                  :command command
                                  :connection-type 'pipe
                                  :coding 'utf-8-emacs-unix
                                  :noquery t
                                  :stderr (get-buffer-create (format "*%s stderr*" name)))))
                (pwnm-sync--events-buffer-initargs)))
         (params (list :clientInfo (list :name "emacs" :version emacs-version))))
    (when pwnm-sync-config-file
      (setq params (plist-put params :configFile (expand-file-name pwnm-sync-config-file))))
    (setf (pwnm-sync--server-process conn) process)
    (setq pwnm-sync--connection conn
          pwnm-sync--stderr-buffer (jsonrpc-stderr-buffer conn))
    (jsonrpc-async-request
     conn :initialize params
     :success-fn (lambda (info) (pwnm-sync--ready conn info))
     :error-fn (lambda (err) (pwnm-sync--start-failed conn command (pwnm-sync--request-error-message err)))
     :timeout-fn (lambda () (pwnm-sync--start-failed conn command "the server did not answer initialize")))))

(defun pwnm-sync--with-connection (on-ready &optional on-fail)
  "Call ON-READY with the connection once the server is initialized.
At once when it is; else start the server if needed, and return.
ON-FAIL is called with an error text if the server cannot start."
  (let ((conn pwnm-sync--connection)
        (on-fail (or on-fail (lambda (text) (pwnm-sync--error "The server did not start: %s" text)))))
    (cond
     ((and conn (jsonrpc-running-p conn) (pwnm-sync--info conn))
      (funcall on-ready conn))
     (pwnm-sync--exiting (funcall on-fail "Emacs is exiting"))
     (t
      (push (cons on-ready on-fail) pwnm-sync--waiting)
      (unless (and conn (jsonrpc-running-p conn))
        (condition-case err
            (pwnm-sync--start)
          (error (setq pwnm-sync--waiting (cl-remove on-ready pwnm-sync--waiting :key #'car))
                 (funcall on-fail (pwnm-sync--note-start-failure
                                   (or pwnm-sync-server-command '("pwnm-sync"))
                                   (error-message-string err))))))))))

;;; Requests

(defvar pwnm-sync--requests (make-hash-table :test #'equal)
  "Requests not answered yet: cancel token -> plist (:label :connection).")

(defvar pwnm-sync--request-serial 0
  "The last cancel token's number.")

(defun pwnm-sync--cancelled-p (err)
  "Return non-nil if jsonrpc error ERR is the server's \"cancelled\"."
  (eql (plist-get err :code) -32800))

(cl-defun pwnm-sync--request (method params &key label success error cancelled
                                     (timeout 600) needs-token)
  "Send METHOD with PARAMS to the server and return at once.
This is the one way commands talk to the server: nothing waits for
it.  The server is started first if needed.  LABEL names the request
in *pwnm-sync* and in messages.  SUCCESS is called with the result.
ERROR is called with the jsonrpc error plist (or a plist with only
:message when the server could not start, or gave no answer in
TIMEOUT seconds, nil for none); the default logs and shows it.
CANCELLED is called with no argument when the request was cancelled
\(the default says so in the echo area).  NEEDS-TOKEN: the request
writes to Patchwork, so auth-source tokens go to the server first.

The request carries a `cancelToken'; `pwnm-sync-cancel' sends the
server `cancel' with it, and the server stops the work (its Patchwork
requests too).  Return the token."
  (let* ((token (format "emacs-%d" (cl-incf pwnm-sync--request-serial)))
         (entry (list :label label))
         (fail (lambda (err)
                 (remhash token pwnm-sync--requests)
                 (cond ((pwnm-sync--cancelled-p err)
                        (pwnm-sync--log "%s: cancelled" label)
                        (if cancelled (funcall cancelled) (pwnm-sync--message "%s: cancelled" label)))
                       (error (funcall error err))
                       (t (pwnm-sync--error "%s failed: %s" label (pwnm-sync--request-error-message err)))))))
    (puthash token entry pwnm-sync--requests)
    (pwnm-sync--with-connection
     (lambda (conn)
       ;; Cancelled before the server had started: nothing to send.
       (when (gethash token pwnm-sync--requests)
         (puthash token (plist-put entry :connection conn) pwnm-sync--requests)
         (when needs-token (pwnm-sync--send-tokens conn))
         (jsonrpc-async-request
          conn method (append params (list :cancelToken token))
          :timeout timeout
          :success-fn (lambda (result)
                        (remhash token pwnm-sync--requests)
                        (when success (funcall success result)))
          :error-fn fail
          :timeout-fn (lambda ()
                        (ignore-errors (jsonrpc-notify conn :cancel (list :token token)))
                        (funcall fail (list :message (format "no answer in %d s; cancelled" timeout)))))))
     (lambda (text) (funcall fail (list :message (format "the server did not start: %s" text)))))
    token))

(defun pwnm-sync--cancel-request (token)
  "Cancel the request TOKEN, on the server too.  Return its label."
  (let ((entry (gethash token pwnm-sync--requests)))
    (when entry
      (let ((conn (plist-get entry :connection)))
        (if (and conn (jsonrpc-running-p conn))
            (jsonrpc-notify conn :cancel (list :token token))
          ;; Not sent yet: it never will be.
          (remhash token pwnm-sync--requests)))
      (plist-get entry :label))))

(defun pwnm-sync-cancel ()
  "Cancel every pwnm-sync request still running, on the server too.
What was done (patches already set, tags already written) is kept."
  (interactive)
  (let ((labels (delq nil (mapcar #'pwnm-sync--cancel-request (hash-table-keys pwnm-sync--requests)))))
    (if labels
        (pwnm-sync--message "Cancelling %s..." (string-join (delete-dups labels) ", "))
      (pwnm-sync--message "Nothing is running"))))

(defun pwnm-sync--stop (conn &optional wait)
  "End CONN's server process, within WAIT seconds (default none).
With WAIT, close its input first, which the server takes as
`shutdown' and `exit': it stops what runs, closes its database and
exits; its sentinel then ends the connection.  Whatever is left after
WAIT is killed.  Not `jsonrpc-shutdown', which waits for the sentinel
with no limit: in `kill-emacs-hook' after the terminal closed, that
wait spun forever."
  (let ((proc (pwnm-sync--server-process conn)))
    (when (and proc wait (process-live-p proc))
      (ignore-errors (process-send-eof proc))
      ;; A deadline, not a count: on a closed terminal each wait
      ;; returns at once.  The sentinel deletes the process.
      (let ((deadline (+ (float-time) wait)))
        (while (and (memq proc (process-list)) (< (float-time) deadline))
          (accept-process-output nil 0.05))))
    (when (and proc (memq proc (process-list)))
      (delete-process proc))))

(defun pwnm-sync-shutdown ()
  "Stop the pwnm-sync server, if it is running.
It gets 2 s at most to close its database; then it is killed.  Also
in `kill-emacs-hook'."
  (interactive)
  (let ((conn pwnm-sync--connection))
    (setq pwnm-sync--connection nil
          pwnm-sync--waiting nil)
    (clrhash pwnm-sync--requests)
    (setq pwnm-sync--server-died nil)
    (when conn (pwnm-sync--stop conn 2))))

(defun pwnm-sync--request-error-message (err)
  "Return the message of jsonrpc error ERR, a plist or a condition."
  (cond ((plist-get err :message))
        ((consp err) (or (alist-get 'jsonrpc-error-message (cdr err))
                         (error-message-string err)))
        (t (format "%s" err))))

;;; What the server says of the setup, remembered
;;
;; notmuch-hello must not wait for the server, so the projects, their
;; states and tag names are kept from the last `initialize', in memory
;; and in `pwnm-sync-facts-file' (so that the first notmuch-hello after
;; starting Emacs has them too), and refreshed in the background.

(defvar pwnm-sync--facts nil
  "The configured projects as the server last described them, or nil.")

(defvar pwnm-sync--facts-loaded nil
  "Non-nil once `pwnm-sync-facts-file' was read.")

(defun pwnm-sync--load-facts ()
  "Read `pwnm-sync-facts-file' once, if there is one."
  (unless pwnm-sync--facts-loaded
    (setq pwnm-sync--facts-loaded t)
    (when (and pwnm-sync-facts-file (file-readable-p pwnm-sync-facts-file))
      (with-temp-buffer
        (insert-file-contents pwnm-sync-facts-file)
        (setq pwnm-sync--facts (ignore-errors (read (current-buffer))))))))

(defun pwnm-sync--projects-of (info)
  "Return the projects of the `initialize' answer INFO, a list."
  (cl-loop for inst across (plist-get info :instances)
           append (append (plist-get inst :projects) nil)))

(defun pwnm-sync--refresh-facts ()
  "Ask the server for its projects again, in the background.
A sync may have met states not seen before."
  (pwnm-sync--request :states nil
                      :label "states"
                      :success (lambda (result) (pwnm-sync--update-facts (append (plist-get result :projects) nil)))
                      :error #'ignore))

(defun pwnm-sync--update-facts (projects)
  "Remember PROJECTS, as the server described them; redraw hello if they changed."
  (progn
    (pwnm-sync--load-facts)
    (unless (equal projects pwnm-sync--facts)
      (setq pwnm-sync--facts projects)
      (when pwnm-sync-facts-file
        (ignore-errors
          (make-directory (file-name-directory pwnm-sync-facts-file) t)
          (with-temp-file pwnm-sync-facts-file
            (let ((print-length nil) (print-level nil))
              (insert ";; pwnm-sync: the projects the server last described.  -*- lisp-data -*-\n")
              (prin1 projects (current-buffer))))))
      (pwnm-sync--refresh-hello))))

;;; Notifications from the server

(cl-defgeneric pwnm-sync-handle-notification (server method &rest params)
  "Handle SERVER's notification METHOD with PARAMS.")

(cl-defmethod pwnm-sync-handle-notification (_server method &rest _params)
  "Warn of an unknown notification METHOD."
  (pwnm-sync--log "unknown notification %s" method))

(cl-defmethod pwnm-sync-handle-notification (_server (_method (eql pwnm/progress)) &rest params)
  "Show progress from PARAMS in the echo area.
Show every step of a series change (one per patch), and log it;
a sync's steps, at most twice a second."
  (if (equal (plist-get params :phase) "setState")
      (let ((r (plist-get params :result)))
        (pwnm-sync--log "series %s patch %s (%s): %s%s" (plist-get r :project) (plist-get r :patchId)
                        (plist-get r :msgid) (plist-get r :outcome)
                        (if (plist-get r :reason) (format " (%s)" (plist-get r :reason)) ""))
        (pwnm-sync--message "Series: %s" (plist-get params :message)))
    (let ((now (float-time)))
      (when (and (not pwnm-sync--sync-quiet) (> (- now pwnm-sync--last-progress) 0.5))
        (setq pwnm-sync--last-progress now)
        (let ((message-log-max nil))
          (pwnm-sync--message "%s" (plist-get params :message)))))))

(cl-defmethod pwnm-sync-handle-notification (_server (_method (eql pwnm/tagsChanged)) &rest params)
  "Update the notmuch buffers that show the messages PARAMS names."
  (if (eq (plist-get params :all) t)
      (pwnm-sync--refresh-buffers)
    (pwnm-sync--tags-changed (append (plist-get params :messageIds) nil))))

(cl-defmethod pwnm-sync-handle-notification (_server (_method (eql window/logMessage)) &rest params)
  "Log the server's message in PARAMS."
  (pwnm-sync--log "%s" (plist-get params :message)))

(cl-defmethod pwnm-sync-handle-notification (_server (_method (eql $/progress)) &rest _params)
  "Ignore LSP progress; `pwnm/progress' carries the same.")

(defun pwnm-sync--dispatch-notification (server method params)
  "Dispatch SERVER's notification METHOD with PARAMS."
  (apply #'pwnm-sync-handle-notification server method params))

(provide 'pwnm-sync-rpc)
;;; pwnm-sync-rpc.el ends here
