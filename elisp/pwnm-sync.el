;;; pwnm-sync.el --- Patchwork patch states in notmuch  -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The pwnm-sync authors

;; Author: The pwnm-sync authors
;; Version: 0.1.0
;; Package-Requires: ((emacs "28.1") (jsonrpc "1.0.14") (notmuch "0.37"))
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

;; Patchwork patch states as notmuch tags, inside notmuch-emacs.
;;
;; The `pwnm-sync' command line keeps every patch mail tagged with its
;; Patchwork state (pw-PROJECT-STATE).  This package talks to its
;; JSON-RPC server (`pwnm-sync serve') and gives notmuch-emacs:
;;
;; - a "Patchwork" section in `notmuch-hello' with counts per project
;;   and state, built with notmuch-hello's own machinery;
;; - `pwnm-sync-mode', a global minor mode that puts a state keymap on
;;   `pwnm-sync-key-prefix' (default "Y") in notmuch-show, -tree and
;;   -search: one key per common state, and one to choose any state;
;; - pushing to Patchwork every state-tag change made in Emacs, by any
;;   command, through `notmuch-after-tag-hook';
;; - \\[pwnm-sync] to sync without blocking Emacs (`pwnm-sync-full'
;;   re-reads everything), `pwnm-sync-cancel', `pwnm-sync-pending',
;;   `pwnm-sync-patch-info' and `pwnm-sync-browse';
;; - your Patchwork bundles: `pwnm-sync-bundle-add' and
;;   `pwnm-sync-bundle-remove', and one notmuch-hello entry per bundle.
;;
;; Setup:
;;
;;   (require 'pwnm-sync)
;;   (pwnm-sync-mode 1)
;;
;; Tokens come from the pwnm-sync config file, or from auth-source
;; (e.g. ~/.authinfo.gpg: "machine patchwork.ozlabs.org password TOKEN")
;; and are handed to the server in memory, never written anywhere.
;;
;; There are few settings, on purpose; see M-x customize-group RET
;; pwnm-sync.

;;; Code:

(require 'cl-lib)
(require 'seq)
(require 'subr-x)
(require 'url-parse)
(require 'jsonrpc)
(require 'auth-source)
(require 'browse-url)
(require 'tabulated-list)
(require 'notmuch)
(require 'notmuch-hello)
(require 'notmuch-show)
(require 'notmuch-tree)
(require 'notmuch-tag)

;;; Customization

(defgroup pwnm-sync nil
  "Patchwork patch states as notmuch tags."
  :group 'notmuch
  :prefix "pwnm-sync-")

(defcustom pwnm-sync-server-command nil
  "Command that starts the pwnm-sync JSON-RPC server.
A list of a program and its arguments, e.g. (\"pwnm-sync\" \"serve\").
nil means find it: the `pwnm-sync' program on variable `exec-path',
else the build
in the checkout this file was loaded from."
  :type '(choice (const :tag "Find it" nil)
                 (repeat :tag "Program and arguments" string)))

(defcustom pwnm-sync-config-file nil
  "The pwnm-sync config file, or nil for its default search."
  :type '(choice (const :tag "Default" nil) file))

(defcustom pwnm-sync-hello-states '("new" "under-review" "changes-requested" "delegated" "check-fail")
  "Entries of the \"Patchwork\" section of `notmuch-hello', per project.
Each is a state slug, or one of the other tag families: \"delegated\"
\(delegated to you), \"check-fail\", \"check-warning\", \"archived\"."
  :type '(repeat (choice (const :tag "Delegated to me" "delegated")
                         (const :tag "CI failed" "check-fail")
                         (const :tag "CI warned" "check-warning")
                         (const :tag "Archived" "archived")
                         (string :tag "State slug"))))

(defcustom pwnm-sync-key-prefix "Y"
  "Key for the state keymap in notmuch show, tree and search buffers.
\"Y\" is free in all three maps in notmuch 0.37.  Takes effect when
`pwnm-sync-mode' is turned on."
  :type 'key-sequence)

(defcustom pwnm-sync-project-repositories nil
  "Git repositories that \\[pwnm-sync-apply] puts patches in, per project.
An alist of (PROJECT . DIRECTORY), PROJECT a Patchwork project's
link_name.  A project missing here uses the repo setting of its
[project NAME] section in the config file, else it is asked for once
and remembered."
  :type '(alist :key-type (string :tag "Project")
                :value-type (directory :tag "Git repository")))

(defcustom pwnm-sync-facts-file (locate-user-emacs-file "pwnm-sync-facts.eld")
  "File remembering the projects, states and tag names the server gave.
So that `notmuch-hello' shows the Patchwork section at once, before
the server has started.  nil: remember them for this session only."
  :type '(choice (const :tag "This session only" nil) file))

(defcustom pwnm-sync-auto-sync-interval nil
  "Minutes between automatic syncs while `pwnm-sync-mode' is on, or nil."
  :type '(choice (const :tag "Never" nil) (integer :tag "Minutes")))

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

;;; Showing changed tags
;;
;; A notification only notes what is out of date; the buffers are
;; redrawn from a timer, and only those on screen.  A hidden buffer
;; waits until a window shows it (`window-buffer-change-functions').
;; So a series change of twelve patches, which sends twelve
;; notifications, redraws notmuch-hello once, and not at all while it
;; is hidden; nothing slow runs in the process filter.

(defconst pwnm-sync--refresh-delay 0.3
  "Seconds without news before the stale buffers on screen are redrawn.")

(defvar pwnm-sync--stale nil
  "The buffers whose display is out of date, an alist (BUFFER . IDS).
IDS are the bare Message-Ids whose tags changed, or t: redraw all.")

(defvar pwnm-sync--refresh-timer nil
  "Timer of the next redraw of the stale buffers on screen, or nil.")

(defun pwnm-sync--mark-stale (buffer ids)
  "Note that BUFFER must show the new tags of IDS (t: everything).
Redraw it soon if it is on screen, else when it is next shown."
  (let ((cell (assq buffer pwnm-sync--stale)))
    (cond ((null cell) (push (cons buffer ids) pwnm-sync--stale))
          ((or (eq ids t) (eq (cdr cell) t)) (setcdr cell t))
          (t (setcdr cell (cl-union ids (cdr cell) :test #'equal)))))
  (pwnm-sync--schedule-refresh pwnm-sync--refresh-delay))

(defun pwnm-sync--schedule-refresh (delay)
  "Redraw the stale buffers on screen after DELAY seconds.
Each call starts the wait again: news arriving in a burst is shown
once, after the last of it."
  (when (timerp pwnm-sync--refresh-timer) (cancel-timer pwnm-sync--refresh-timer))
  (setq pwnm-sync--refresh-timer (run-with-timer delay nil #'pwnm-sync--refresh-visible)))

(defun pwnm-sync--hello-buffer-p (buffer)
  "Return non-nil if BUFFER is a `notmuch-hello' buffer."
  (eq (buffer-local-value 'major-mode buffer) 'notmuch-hello-mode))

(defun pwnm-sync--series-running-p ()
  "Return non-nil while the server is setting the patches of a series.
Each patch it sets sends news; hello waits for the last one."
  (cl-loop for entry being the hash-values of pwnm-sync--requests
           thereis (and (equal (plist-get entry :label) "series change")
                        (let ((conn (plist-get entry :connection)))
                          (and conn (jsonrpc-running-p conn))))))

(defun pwnm-sync--refresh-visible ()
  "Redraw the stale buffers on screen; the others wait to be shown.
While a series change runs, hello waits for its end (it is retried
from a timer, which stops when the request ends, however it ends)."
  (setq pwnm-sync--refresh-timer nil)
  (let ((hold-hello (pwnm-sync--series-running-p))
        (held nil))
    (dolist (cell (copy-sequence pwnm-sync--stale))
      (let ((buffer (car cell)))
        (cond ((not (buffer-live-p buffer))
               (setq pwnm-sync--stale (delq cell pwnm-sync--stale)))
              ((not (get-buffer-window buffer 'visible)))
              ((and hold-hello (pwnm-sync--hello-buffer-p buffer)) (setq held t))
              (t (setq pwnm-sync--stale (delq cell pwnm-sync--stale))
                 (with-demoted-errors "pwnm-sync: redrawing a buffer: %S"
                   (pwnm-sync--refresh-buffer buffer (cdr cell)))))))
    (when held (pwnm-sync--schedule-refresh pwnm-sync--refresh-delay))))

(defun pwnm-sync--on-window-change (_frame)
  "Redraw, from a timer, the stale buffers now on screen.
In `window-buffer-change-functions'."
  (when (seq-some (lambda (cell) (and (buffer-live-p (car cell)) (get-buffer-window (car cell) 'visible)))
                  pwnm-sync--stale)
    (pwnm-sync--schedule-refresh 0)))

(defun pwnm-sync--refresh-buffer (buffer ids)
  "Show in BUFFER the tags notmuch has now for IDS (t: redraw it all).
As notmuch-emacs's own tagging does: the message's tag line in show,
the message's or thread's line in tree and search; nothing else moves.
hello is redrawn in full."
  (with-current-buffer buffer
    (cond ((derived-mode-p 'notmuch-hello-mode) (notmuch-hello-update))
          ((eq ids t) (notmuch-refresh-this-buffer))
          (t (let* ((thread-ids nil)
                    (threads (lambda ()
                               (or thread-ids
                                   (setq thread-ids
                                         (mapcar (lambda (th) (string-remove-prefix "thread:" th))
                                                 (notmuch-call-notmuch-sexp
                                                  "search" "--output=threads" "--format=sexp"
                                                  (mapconcat #'notmuch-id-to-query ids " or ")))))))
                    (hits (pwnm-sync--shown ids threads)))
               (when hits (pwnm-sync--retag-buffer buffer hits)))))))

(defun pwnm-sync--notmuch-buffers ()
  "Return the notmuch show, tree and search buffers."
  (seq-filter (lambda (buffer)
                (memq (buffer-local-value 'major-mode buffer)
                      '(notmuch-show-mode notmuch-tree-mode notmuch-search-mode)))
              (buffer-list)))

(defun pwnm-sync--refresh-buffers ()
  "Redraw `notmuch-hello' and the other notmuch buffers, when shown.
For when too many messages changed to name them."
  (dolist (buffer (pwnm-sync--notmuch-buffers)) (pwnm-sync--mark-stale buffer t))
  (pwnm-sync--refresh-hello))

(defun pwnm-sync--refresh-hello ()
  "Redraw `notmuch-hello' soon if it is on screen, else when it is next shown."
  (let ((hello (get-buffer "*notmuch-hello*")))
    (when (and (buffer-live-p hello) (pwnm-sync--hello-buffer-p hello))
      (pwnm-sync--mark-stale hello t))))

(defun pwnm-sync--tags-of (search)
  "Return the tags of the messages matching SEARCH, from notmuch."
  (notmuch-call-notmuch-sexp "search" "--output=tags" "--format=sexp" search))

(defun pwnm-sync--shown (ids threads)
  "Return where the current buffer displays one of the messages IDS.
A list of (POSITION . SEARCH): SEARCH gives the tags to show there, the
message's in show and tree buffers, the thread's (one of THREADS, a
function returning the thread ids of IDS) in search buffers."
  (let ((hits nil))
    (save-excursion
      (pcase major-mode
        ('notmuch-show-mode
         (notmuch-show-mapc (lambda ()
                              (let ((id (notmuch-show-get-message-id t)))
                                (when (member id ids)
                                  (push (cons (point) (notmuch-id-to-query id)) hits))))))
        ('notmuch-tree-mode
         (goto-char (point-min))
         (while (not (eobp))
           (let ((id (notmuch-tree-get-message-id t)))
             (when (member id ids)
               (push (cons (point) (notmuch-id-to-query id)) hits)))
           (forward-line 1)))
        ('notmuch-search-mode
         (let ((wanted (funcall threads)))
           (notmuch-search-foreach-result (point-min) (point-max)
             (lambda (pos)
               (let ((thread (plist-get (notmuch-search-get-result pos) :thread)))
                 (when (member thread wanted)
                   (push (cons pos (concat "thread:" thread)) hits)))))))))
    (nreverse hits)))

(defun pwnm-sync--retag-buffer (buffer hits)
  "Show in BUFFER the tags notmuch has now, at HITS (see `pwnm-sync--shown').
As notmuch-emacs's own tagging does: the message's tag line in show,
the message's or thread's line in tree and search; nothing else moves."
  (with-current-buffer buffer
    (save-excursion
      ;; Last first: a new tag line changes the length of the text before
      ;; the positions after it, which would then point into another message.
      (pcase-dolist (`(,pos . ,where) (sort (copy-sequence hits) (lambda (a b) (> (car a) (car b)))))
        (goto-char pos)
        (let ((tags (pwnm-sync--tags-of where)))
          (pcase major-mode
            ('notmuch-show-mode
             ;; Also the tags to compare with: no struck-through old state.
             (notmuch-show-set-prop :orig-tags tags)
             (notmuch-show-set-tags tags))
            ('notmuch-tree-mode
             (notmuch-tree-set-tags tags)
             (notmuch-tree-refresh-result))
            ('notmuch-search-mode
             (notmuch-search-set-tags tags pos))))))))

(defun pwnm-sync--tags-changed (ids)
  "Note in every notmuch buffer and hello that the messages IDS changed.
IDS are bare Message-Ids.
Those on screen are redrawn in a moment, the others when next shown."
  (when ids
    (dolist (buffer (pwnm-sync--notmuch-buffers)) (pwnm-sync--mark-stale buffer ids))
    (pwnm-sync--refresh-hello)))

;;; Sync

(defun pwnm-sync--summary-line (summary)
  "Return a one-line text for sync SUMMARY, a plist."
  (concat
   (mapconcat
    (lambda (p)
      (let ((parts (delq nil
                         (list (format "%d retagged" (plist-get p :retagged))
                               (format "%d pushed" (plist-get p :pushed))
                               (pwnm-sync--count p :conflicts "conflict")
                               (pwnm-sync--count p :refused "refused")
                               (pwnm-sync--count p :queued "queued")
                               (pwnm-sync--count p :ambiguous "ambiguous")
                               (and (> (length (plist-get p :errors)) 0) "failed")))))
        (format "%s: %s" (plist-get p :project) (string-join parts ", "))))
    (plist-get summary :projects) "; ")
   (format "; %.1f s" (/ (plist-get summary :durationMs) 1000.0))))

(defun pwnm-sync--count (project key word)
  "Return \"N WORD\" for the list under KEY in PROJECT, or nil when empty."
  (let ((n (length (plist-get project key))))
    (and (> n 0) (format "%d %s%s" n word (if (and (> n 1) (string= word "conflict")) "s" "")))))

(defun pwnm-sync--log-summary (summary)
  "Write the details of sync SUMMARY to the *pwnm-sync* buffer."
  (pwnm-sync--log "sync: %s" (pwnm-sync--summary-line summary))
  (seq-doseq (p (plist-get summary :projects))
    (dolist (key '(:conflicts :refused :queued :ambiguous))
      (seq-doseq (r (plist-get p key))
        (pwnm-sync--log "  %s %s %s (patch %s): %s" (plist-get p :project)
                        (substring (symbol-name key) 1) (plist-get r :msgid)
                        (plist-get r :patchId) (plist-get r :reason))))
    (seq-doseq (e (plist-get p :notes)) (pwnm-sync--log "  %s note: %s" (plist-get p :project) e))
    (seq-doseq (e (plist-get p :errors)) (pwnm-sync--log "  %s error: %s" (plist-get p :project) e))))

;;;###autoload
(defun pwnm-sync (&optional full)
  "Sync Patchwork states and notmuch tags, without blocking Emacs.
FULL non-nil re-reads everything from Patchwork (the command
`pwnm-sync-full'; a prefix argument means nothing here: it always
means the whole series).  Tags the sync changes show in the notmuch
buffers as it reports them; a sync that changed nothing changes no
buffer, and when the timer ran it, says nothing either."
  (interactive)
  (if pwnm-sync--sync-running
      (pwnm-sync--message "A sync is already running (M-x pwnm-sync-cancel to stop it)")
    (let ((automatic pwnm-sync--automatic))
      (setq pwnm-sync--sync-running t
            pwnm-sync--sync-quiet automatic)
      (unless automatic (pwnm-sync--message "Syncing%s..." (if full " everything" "")))
      (pwnm-sync--request
       :sync (list :full (if full t :json-false))
       :label "sync"
       ;; Never from the timer: auth-source may prompt.
       :needs-token (not automatic)
       ;; No client-side timeout: a first sync can take minutes.
       :timeout nil
       :success (lambda (summary)
                  (setq pwnm-sync--sync-running nil)
                  (pwnm-sync--log-summary summary)
                  (when automatic (pwnm-sync--log-read-only))
                  (pwnm-sync--refresh-facts)
                  (pwnm-sync--refresh-bundles)
                  (pwnm-sync-hello-refresh-counts)
                  (unless (and automatic (pwnm-sync--quiet-p summary))
                    (pwnm-sync--message "%s" (pwnm-sync--summary-line summary))))
       :cancelled (lambda ()
                    (setq pwnm-sync--sync-running nil)
                    (pwnm-sync--message "Sync cancelled; what was done is kept"))
       :error (lambda (err)
                (setq pwnm-sync--sync-running nil)
                (if automatic
                    ;; The server's error code, else (it did not start) the text.
                    (pwnm-sync--auto-sync-failed (or (plist-get err :code) (plist-get err :message))
                                                 (pwnm-sync--request-error-message err))
                  (pwnm-sync--error "Sync failed: %s" (pwnm-sync--request-error-message err))))))))

;;;###autoload
(defun pwnm-sync-full ()
  "Sync, re-reading everything from Patchwork, without blocking Emacs."
  (interactive)
  (pwnm-sync t))

(defun pwnm-sync--quiet-p (summary)
  "Return non-nil if sync SUMMARY changed nothing and has nothing to tell."
  (seq-every-p (lambda (p)
                 (and (zerop (plist-get p :retagged)) (zerop (plist-get p :pushed))
                      (seq-every-p (lambda (key) (zerop (length (plist-get p key))))
                                   '(:conflicts :refused :queued :ambiguous :errors))))
               (plist-get summary :projects)))

;;; State changes

(defun pwnm-sync--projects ()
  "Return the configured projects, plists with :project, :tag, :states, :tags.
As the server last described them (see `pwnm-sync-facts-file'); never
waits for it.  Before it ever answered, start it and say to try again."
  (pwnm-sync--load-facts)
  (or pwnm-sync--facts
      (let ((failure pwnm-sync--start-failure))
        ;; A command tries again, even after a failure: it may be fixed.
        (pwnm-sync--with-connection #'ignore #'ignore)
        (if failure
            (user-error "The pwnm-sync server did not start: %s (M-x pwnm-sync-events)" failure)
          (user-error "The pwnm-sync server is starting; try again in a moment")))))

(defun pwnm-sync--state-tags (project)
  "Return PROJECT's state tags, an alist of (SLUG . TAG)."
  (cl-loop for s across (plist-get project :states)
           collect (cons (plist-get s :slug) (plist-get s :tag))))

(defun pwnm-sync--family-tag (project name)
  "Return the tag the server names for family NAME of PROJECT, or nil.
NAME is \"archived\", \"delegated\" or \"check-STATE\"."
  (let ((tags (plist-get project :tags)))
    (if (string-prefix-p "check-" name)
        (plist-get (plist-get tags :checks) (intern (concat ":" (substring name 6))))
      (plist-get tags (intern (concat ":" name))))))

(defun pwnm-sync--tag-changes (project state present)
  "Return what to add and remove to move a message of PROJECT to STATE.
PRESENT is the tags the message(s) have now.  Only those of them that
are state tags are removed, and the new one is added only when missing:
notmuch keeps this list for `notmuch-tag-undo', which reverses it, and
removing absent tags would make undo add them all."
  (let* ((tags (pwnm-sync--state-tags project))
         (new (cdr (assoc state tags))))
    (unless new
      (user-error "The server knows no state %s in %s" state (plist-get project :project)))
    (append (unless (member new present) (list (concat "+" new)))
            (cl-loop for (_slug . tag) in tags
                     unless (or (string= tag new) (not (member tag present)))
                     collect (concat "-" tag)))))

(defun pwnm-sync--tags-at-point ()
  "Return the tags of the message or thread at point."
  (pcase major-mode
    ('notmuch-show-mode (notmuch-show-get-tags))
    ('notmuch-tree-mode (notmuch-tree-get-tags))
    ('notmuch-search-mode (if (use-region-p)
                              (notmuch-search-get-tags-region (region-beginning) (region-end))
                            (notmuch-search-get-tags)))
    (_ (user-error "Not in a notmuch show, tree or search buffer"))))

(defun pwnm-sync--read-project (tags)
  "Return the projects (plists) the message with TAGS is in, asking if several."
  (let* ((projects (cl-remove-if-not (lambda (p) (member (plist-get p :tag) tags)) (pwnm-sync--projects)))
         (names (mapcar (lambda (p) (plist-get p :project)) projects)))
    (cond ((null projects) (user-error "Not a patch of a synced Patchwork project (no pw- project tag)"))
          ((null (cdr projects)) projects)
          (t (let ((choice (completing-read "Project: " (cons "all" names) nil t)))
               (if (string= choice "all") projects
                 (list (nth (cl-position choice names :test #'string=) projects))))))))

(defun pwnm-sync--read-state (projects)
  "Ask for a state of PROJECTS with completion."
  (completing-read "Patchwork state: "
                   (delete-dups (cl-loop for p in projects
                                         append (mapcar #'car (pwnm-sync--state-tags p))))
                   nil t))

(defun pwnm-sync--goto-patch-ancestor ()
  "In show, move to the patch the message at point belongs to.
That is the message itself when it is a patch, else its nearest
ancestor in the thread that is one (a review reply's patch).  Return
non-nil when there is one; else leave point where it was."
  (let ((start (point))
        (depth (notmuch-show-get-depth)))
    (notmuch-show-message-top)
    (or (catch 'found
          ;; Each step goes up one level: the message before this one
          ;; in the buffer with a smaller depth is its parent.
          (while t
            (when (member "patchwork" (notmuch-show-get-tags)) (throw 'found t))
            (when (zerop depth) (throw 'found nil))
            (while (and (notmuch-show-goto-message-previous)
                        (>= (notmuch-show-get-depth) depth)))
            (if (< (notmuch-show-get-depth) depth)
                (setq depth (notmuch-show-get-depth))
              (throw 'found nil))))
        (progn (goto-char start) nil))))

(defun pwnm-sync--cover-letter-p ()
  "Return non-nil if point is on a message in show that is not a patch.
Nor a reply to one: a cover letter, or a reply to it.  The state keys
then act on the cover letter's series, as Patchwork files it."
  (and (eq major-mode 'notmuch-show-mode)
       (not (save-excursion (pwnm-sync--goto-patch-ancestor)))))

(defun pwnm-sync--thread-query ()
  "Return a query for the thread of the message at point in show."
  (format "thread:{%s}" (notmuch-show-get-message-id)))

(defun pwnm-sync--thread-tags ()
  "Return the tags of all messages of the thread at point in show."
  (notmuch-call-notmuch-sexp "search" "--output=tags" "--format=sexp" (pwnm-sync--thread-query)))

(defun pwnm-sync-set-state (state &optional projects series)
  "Set the Patchwork STATE of the patch at point.
In show and tree buffers that is the message at point when it is a
patch; on a reply, the patch it replies to (its nearest patch ancestor
in the thread), named in the echo area; on a cover letter, the patches
Patchwork files under its series.  In search buffers the patch of the
thread at point (asking which when the thread holds several), or of
the threads of the region.  PROJECTS limits the change to those
projects (plists); nil asks when the message is in several.  A change
of one patch goes through `notmuch-tag' (so `notmuch-after-tag-hook'
runs, and `notmuch-tag-undo' reverses it), and that hook pushes it to
Patchwork.

With SERIES (interactively, a prefix argument), and always on a cover
letter, the server sets every patch of the series: it sets each on
Patchwork first and then writes its tags itself, so
`notmuch-after-tag-hook' does NOT run for them.  When that is more
than one patch, the count and subjects are shown and you are asked
first (see `pwnm-sync-confirm-several').  Each patch's outcome shows in
the echo area and in *pwnm-sync* as Patchwork confirms it (\"Series:
3/12 accepted\"); nothing waits: \[pwnm-sync-cancel] stops what is left
on the server."
  (interactive (let ((projects (pwnm-sync--patch-projects-at-point)))
                 (list (pwnm-sync--read-state projects)
                       (unless (pwnm-sync--cover-letter-p) projects)
                       current-prefix-arg)))
  (cond
   ((or series (pwnm-sync--cover-letter-p))
    (pwnm-sync--set-series-state state (pwnm-sync--patch-id-at-point)))
   ((eq major-mode 'notmuch-show-mode)
    (save-excursion
      (pwnm-sync--goto-patch-ancestor)
      (dolist (project (or projects (pwnm-sync--read-project (notmuch-show-get-tags))))
        (notmuch-show-tag (pwnm-sync--tag-changes project state (notmuch-show-get-tags)))
        (pwnm-sync--show-settle-tags))
      (pwnm-sync--message "%s -> %s" (notmuch-show-get-subject) state)))
   ((eq major-mode 'notmuch-tree-mode)
    (dolist (project (or projects (pwnm-sync--read-project (notmuch-tree-get-tags))))
      (notmuch-tree-tag (pwnm-sync--tag-changes project state (notmuch-tree-get-tags)))))
   ((use-region-p)
    (let ((threads (notmuch-search-find-stable-query-region (region-beginning) (region-end))))
      (pwnm-sync--confirm-several
       (pwnm-sync--call-sexp "search" "--output=summary" "--format=sexp"
                             (format "(%s) and tag:patchwork" threads))
       state)
      (dolist (project (or projects (pwnm-sync--read-project (pwnm-sync--tags-at-point))))
        (notmuch-tag (format "(%s) and tag:%s" threads (plist-get project :tag))
                     (pwnm-sync--tag-changes project state (pwnm-sync--tags-at-point))))
      (notmuch-refresh-this-buffer)))
   (t
    (let ((id (pwnm-sync--patch-id-at-point)))
      (dolist (project (or projects (pwnm-sync--read-project (pwnm-sync--message-tags id))))
        (notmuch-tag (notmuch-id-to-query id)
                     (pwnm-sync--tag-changes project state (pwnm-sync--message-tags id))))
      (notmuch-refresh-this-buffer)))))

(defun pwnm-sync--call-sexp (&rest args)
  "Run notmuch with ARGS and return its sexp output."
  (apply #'notmuch-call-notmuch-sexp args))

(defun pwnm-sync--subject (id)
  "Return the subject of the message with bare Message-Id ID."
  (plist-get (car (pwnm-sync--call-sexp "search" "--output=summary" "--format=sexp" (notmuch-id-to-query id)))
             :subject))

(defun pwnm-sync--message-tags (id)
  "Return the tags of the message with bare Message-Id ID."
  (pwnm-sync--call-sexp "search" "--output=tags" "--format=sexp" (notmuch-id-to-query id)))

(defun pwnm-sync--patch-tags-at-point ()
  "Return the tags of the patch the state keys act on at point."
  (pcase major-mode
    ('notmuch-show-mode (save-excursion (pwnm-sync--goto-patch-ancestor)
                                        (notmuch-show-get-tags)))
    ('notmuch-search-mode (if (use-region-p) (pwnm-sync--tags-at-point)
                            (pwnm-sync--message-tags (pwnm-sync--patch-id-at-point))))
    (_ (pwnm-sync--tags-at-point))))

(defun pwnm-sync--patch-projects-at-point ()
  "Return the projects whose states a state key at point may set.
The projects of the patch the key acts on (asking when several), or
on a cover letter every project: the server knows which is its own."
  (if (pwnm-sync--cover-letter-p)
      (pwnm-sync--projects)
    (pwnm-sync--read-project (pwnm-sync--patch-tags-at-point))))

(defun pwnm-sync--patch-message-id-at-point (key)
  "Return the bare Message-Id of the one patch KEY acts on at point.
The patch itself, on a reply the patch it answers, in search the
thread's patch (asking which when several).  A cover letter is no
patch: say so, naming KEY."
  (when (pwnm-sync--cover-letter-p)
    (user-error "%s acts on one patch, and a cover letter is none: press it on a patch of the series" key))
  (pwnm-sync--patch-id-at-point))

(defun pwnm-sync--patch-id-at-point ()
  "Return the bare Message-Id of the patch at point.
In show, the patch a reply belongs to, or the cover letter itself (the
server then acts on its series).  In search, the thread's patch,
asking which when the thread holds several."
  (pcase major-mode
    ('notmuch-show-mode (save-excursion (pwnm-sync--goto-patch-ancestor)
                                        (notmuch-show-get-message-id t)))
    ('notmuch-search-mode
     (let ((ids (pwnm-sync--call-sexp "search" "--output=messages" "--format=sexp"
                                      (format "(%s) and tag:patchwork" (notmuch-search-find-thread-id)))))
       (cond ((null ids) (user-error "No patch in this thread"))
             ((null (cdr ids)) (car ids))
             (t (let* ((subjects (mapcar (lambda (id) (cons (pwnm-sync--subject id) id)) ids))
                       (choice (completing-read "Which patch: " subjects nil t)))
                  (cdr (assoc choice subjects)))))))
    (_ (pwnm-sync--message-id-at-point))))

(defcustom pwnm-sync-confirm-several t
  "Non-nil: ask before a state change of more than one patch.
The question lists how many and their subjects."
  :type 'boolean
  :group 'pwnm-sync)

(defun pwnm-sync--confirm-several (subjects state &optional question)
  "Ask before setting STATE on the patches with SUBJECTS, when several.
SUBJECTS is a list of strings, or of notmuch search summaries.
QUESTION, a format with %d for the count, replaces \"Set these %d
patches to STATE\".  Signal a `user-error' when the answer is no."
  (let* ((subjects (mapcar (lambda (s) (if (stringp s) s (plist-get s :subject))) subjects))
         (prompt (format "%s\n%s? "
                         (mapconcat (lambda (s) (concat "  " s)) subjects "\n")
                         (format (or question (format "Set these %%d patches to %s" state))
                                 (length subjects)))))
    (when (and pwnm-sync-confirm-several (cdr subjects)
               (not (y-or-n-p prompt)))
      (user-error "Nothing changed"))))

(defun pwnm-sync--show-settle-tags ()
  "Show the tags of the message at point as they are now.
`notmuch-show' keeps removed tags on display, struck through, until a
refresh; on a terminal that looks like the old state is still there
next to the new one.  A state change replaces the old state, so show
only the tags the message has."
  (let ((tags (notmuch-show-get-tags)))
    (notmuch-show-set-prop :orig-tags tags)
    (notmuch-show-update-tags tags)))

(defun pwnm-sync--set-series-state (state message-id)
  "Set STATE for every patch of the series of MESSAGE-ID, on the server.
MESSAGE-ID may be a cover letter's.  The server first says which
patches that is; when several, ask (see `pwnm-sync-confirm-several').
Return at once; see `pwnm-sync-set-state' for what follows."
  (let ((params (list :messageIds (vector message-id) :state state :series t)))
    (pwnm-sync--request
     :setState (append params '(:dryRun t))
     :label "series change"
     :success (lambda (result)
                (let ((patches (append (plist-get result :patches) nil)))
                  (condition-case err
                      (progn
                        (pwnm-sync--confirm-several
                         (mapcar (lambda (p) (or (plist-get p :name) (plist-get p :msgid))) patches)
                         state)
                        (pwnm-sync--message "Series: setting %d patch(es) to %s..." (length patches) state)
                        (pwnm-sync--request
                         :setState params
                         :label "series change"
                         :needs-token t
                         :success (lambda (result)
                                    (let* ((outcomes (seq-group-by (lambda (r) (plist-get r :outcome))
                                                                   (plist-get result :results)))
                                           (text (mapconcat (lambda (g) (format "%d %s" (length (cdr g)) (car g)))
                                                            outcomes ", ")))
                                      (pwnm-sync--log "series %s: %s" state text)
                                      (pwnm-sync--message "Series: %s" text)))))
                    ((user-error quit) (pwnm-sync--message "Series: %s" (if (eq (car err) 'quit) "Nothing changed" (cadr err))))))))))

(defun pwnm-sync--with-series-patches (message-id label then)
  "Call THEN with the patches of MESSAGE-ID's series, as the server lists them.
MESSAGE-ID may be a cover letter's: the server finds the series
Patchwork files it under.  The list comes from `setState''s dry run
\(which changes nothing and reads no state): plists with :msgid :name
:project :patchId.  LABEL names the request.  THEN runs from the
server's answer; a `user-error' or quit in it (a question answered
no) is said in the echo area."
  (pwnm-sync--request
   :setState (list :messageIds (vector message-id) :state "" :series t :dryRun t)
   :label label
   :success (lambda (result)
              (let ((patches (append (plist-get result :patches) nil)))
                (condition-case err
                    (if patches (funcall then patches)
                      (user-error "Patchwork files no patch under %s" message-id))
                  ((user-error quit)
                   (pwnm-sync--message "%s: %s" label (if (eq (car err) 'quit) "Nothing changed" (cadr err)))))))))

(defun pwnm-sync--patch-names (patches)
  "Return the names of PATCHES, plists of a series listing, for a question."
  (mapcar (lambda (p) (or (plist-get p :name) (plist-get p :msgid))) patches))

(defun pwnm-sync--series-query (patches)
  "Return a notmuch query for the messages of PATCHES, plists with :msgid."
  (mapconcat (lambda (p) (notmuch-id-to-query (plist-get p :msgid))) patches " or "))

(defmacro pwnm-sync--define-state-command (state)
  "Define `pwnm-sync-state-STATE', a command setting STATE."
  (let ((name (intern (format "pwnm-sync-state-%s" state))))
    `(defun ,name (&optional series)
       ,(format "Set the Patchwork state of the patch at point to %s.
With SERIES (interactively, a prefix argument), of its whole series." state)
       (interactive "P")
       (pwnm-sync-set-state ,state nil series))))

(pwnm-sync--define-state-command "new")
(pwnm-sync--define-state-command "under-review")
(pwnm-sync--define-state-command "accepted")
(pwnm-sync--define-state-command "rejected")
(pwnm-sync--define-state-command "rfc")
(pwnm-sync--define-state-command "not-applicable")
(pwnm-sync--define-state-command "changes-requested")
(pwnm-sync--define-state-command "awaiting-upstream")
(pwnm-sync--define-state-command "superseded")
(pwnm-sync--define-state-command "deferred")

(defun pwnm-sync--state-tag-change-p (change-list)
  "Return non-nil if a project's state or archived tag is in CHANGE-LIST.
Before the server ever described its projects, nil: such a change
goes with the next sync."
  (pwnm-sync--load-facts)
  (and pwnm-sync--facts
       (let ((tags (cl-loop for p in pwnm-sync--facts
                            append (cons (pwnm-sync--family-tag p "archived")
                                         (mapcar #'cdr (pwnm-sync--state-tags p)))))
             (prefixes (mapcar (lambda (p) (concat (plist-get p :tag) "-")) pwnm-sync--facts)))
         (cl-some (lambda (change)
                    (let ((tag (substring change 1)))
                      (or (member tag tags)
                          (and (string-prefix-p "+" change)
                               (cl-some (lambda (prefix) (string-prefix-p prefix tag)) prefixes)))))
                  change-list))))

(defun pwnm-sync--after-tag ()
  "Push to Patchwork what was done to state tags in Emacs.
Run from `notmuch-after-tag-hook', which binds `query' and
`tag-changes' dynamically."
  (let ((changes (with-suppressed-warnings ((lexical tag-changes))
                   (and (boundp 'tag-changes) (symbol-value 'tag-changes))))
        (tagged (with-suppressed-warnings ((lexical query))
                  (and (boundp 'query) (symbol-value 'query)))))
    (when (and pwnm-sync-mode tagged (pwnm-sync--state-tag-change-p changes))
      (pwnm-sync-push tagged))))

(defun pwnm-sync-push (terms)
  "Push now what was done to the state tags of the messages matching TERMS."
  (interactive (list (read-string "Push messages matching: ")))
  (pwnm-sync--request
   :push (list :query (format "(%s) and tag:patchwork" terms))
   :label "push"
   :needs-token t
   :success (lambda (result) (pwnm-sync--report-push (plist-get result :results)))))

(defun pwnm-sync--report-push (results)
  "Say in the echo area what happened to the pushes in RESULTS."
  (let ((texts nil))
    (seq-doseq (r results)
      (let ((outcome (plist-get r :outcome)))
        (unless (string= outcome "nothing")
          (pwnm-sync--log "push %s %s: %s %s" (plist-get r :project) (plist-get r :messageId)
                          outcome (or (plist-get r :reason) (plist-get r :state) ""))
          (push (pcase outcome
                  ("pushed" (format "%s: %s" (plist-get r :project) (plist-get r :state)))
                  ("queued" (format "queued (%s), will go with the next sync" (plist-get r :reason)))
                  ("refused" (format "refused: %s" (plist-get r :reason)))
                  (_ (format "%s: %s" outcome (plist-get r :reason))))
                texts))))
    (when texts
      (pwnm-sync--message "%s" (string-join (delete-dups (nreverse texts)) "; ")))))

;;; Archive and delegation

(defun pwnm-sync-toggle-archived ()
  "Archive the patch at point on Patchwork, or unarchive it if archived.
On a cover letter, the patches of its series (the server lists them),
after asking when several: all unarchived when all are archived, else
the others archived.  The archived tag changes through `notmuch-tag';
the after-tag hook pushes it."
  (interactive)
  (if (pwnm-sync--cover-letter-p)
      (pwnm-sync--toggle-series-archived (notmuch-show-get-message-id t))
    (pwnm-sync--toggle-archived-at-point)))

(defun pwnm-sync--toggle-series-archived (message-id)
  "Archive the series of MESSAGE-ID, or unarchive it when all is archived."
  (pwnm-sync--with-series-patches
   message-id "archive"
   (lambda (patches)
     (let* ((name (plist-get (car patches) :project))
            (project (or (seq-find (lambda (p) (equal (plist-get p :project) name)) (pwnm-sync--projects))
                         (user-error "Not a synced project: %s" name)))
            (tag (or (pwnm-sync--family-tag project "archived")
                     (user-error "The server has not named the archived tag of %s" name)))
            (query (pwnm-sync--series-query patches))
            (archived (pwnm-sync--call-sexp "search" "--output=messages" "--format=sexp"
                                            (format "(%s) and tag:%s" query tag)))
            (all (= (length archived) (length patches))))
       (pwnm-sync--confirm-several (pwnm-sync--patch-names patches) nil
                                   (if all "Unarchive these %d patches" "Archive these %d patches"))
       ;; Only the messages that change, named by id: the after-tag hook
       ;; pushes what the query matches after the change.
       (let ((changing (if all archived
                         (seq-remove (lambda (id) (member id archived))
                                     (mapcar (lambda (p) (plist-get p :msgid)) patches)))))
         (notmuch-tag (mapconcat #'notmuch-id-to-query changing " or ")
                      (list (concat (if all "-" "+") tag)))
         (pwnm-sync--message "Series: %d patch(es) %s" (length changing) (if all "unarchived" "archived")))))))

(defun pwnm-sync--toggle-archived-at-point ()
  "Archive the patch at point, or unarchive it (see `pwnm-sync-toggle-archived').
In show, on a reply, the patch it answers."
  (save-excursion
    (when (eq major-mode 'notmuch-show-mode) (pwnm-sync--goto-patch-ancestor))
    (pwnm-sync--toggle-archived-here)))

(defun pwnm-sync--toggle-archived-here ()
  "Archive the message at point, or unarchive it."
  (let* ((tags (pwnm-sync--tags-at-point))
         (project (car (pwnm-sync--read-project tags)))
         (tag (or (pwnm-sync--family-tag project "archived")
                  ;; Facts remembered from a server that did not name it yet.
                  (progn (pwnm-sync--with-connection #'ignore #'ignore)
                         (user-error "The server has not named the archived tag yet; try again in a moment"))))
         (changes (list (concat (if (member tag tags) "-" "+") tag))))
    (pcase major-mode
      ('notmuch-show-mode (notmuch-show-tag changes))
      ('notmuch-tree-mode (notmuch-tree-tag changes))
      (_ (notmuch-tag (format "(%s) and tag:%s" (notmuch-search-find-stable-query-region (point) (point))
                              (plist-get project :tag))
                      changes)
         (notmuch-refresh-this-buffer)))))

(defun pwnm-sync-delegate-to-me (message-id)
  "Delegate the patch MESSAGE-ID to you on Patchwork, without waiting.
You are the `me' of the instance in the pwnm-sync config.
Interactively, the patch at point (on a reply, the patch it answers);
on a cover letter, the patches of its series, after asking when
several."
  (interactive (list (if (pwnm-sync--cover-letter-p)
                         (notmuch-show-get-message-id t)
                       (pwnm-sync--patch-id-at-point))))
  (if (and (called-interactively-p 'any) (pwnm-sync--cover-letter-p))
      (pwnm-sync--with-series-patches
       message-id "delegate"
       (lambda (patches)
         (pwnm-sync--confirm-several (pwnm-sync--patch-names patches) nil "Delegate these %d patches to you")
         (pwnm-sync--delegate (mapcar (lambda (p) (plist-get p :msgid)) patches))))
    (pwnm-sync--delegate (list message-id))))

(defun pwnm-sync--delegate (message-ids)
  "Delegate the patches MESSAGE-IDS to you on Patchwork, without waiting."
  (pwnm-sync--request
   :delegate (list :messageIds (vconcat message-ids))
   :label "delegate"
   :needs-token t
   :success (lambda (result)
              (seq-doseq (r (plist-get result :results))
                (pwnm-sync--log "delegate %s %s: %s %s" (plist-get r :project) (plist-get r :msgid)
                                (plist-get r :outcome) (or (plist-get r :reason) (plist-get r :delegate)))
                (pwnm-sync--message "%s: %s" (plist-get r :project)
                                    (if (equal (plist-get r :outcome) "delegated")
                                        (format "delegated to %s" (plist-get r :delegate))
                                      (format "refused: %s" (plist-get r :reason))))))))

;;; Commits

(defun pwnm-sync-accept-from-git (repo range &optional dry-run)
  "Mark accepted the patches that became the commits of RANGE in REPO.
Patches are found by Patchwork's diff hash, else by the message-id of a
Link: or Message-Id: trailer; their commit_ref is set too.  With
DRY-RUN (interactively, \[negative-argument]), only report.  Returns
at once; the outcome goes to *pwnm-sync* and the echo area."
  (interactive
   (let ((dry-run (pwnm-sync--dry-run-p current-prefix-arg))
         (root (or (locate-dominating-file default-directory ".git")
                   (read-directory-name "Git repository: "))))
     (list (expand-file-name root)
           (read-string "Commits: " "@{upstream}..HEAD")
           dry-run)))
  (pwnm-sync--message "Matching the commits of %s..." range)
  (pwnm-sync--request
   :acceptFromGit (list :repo (expand-file-name repo) :range range :dryRun (if dry-run t :json-false))
   :label "accept-from-git"
   :needs-token t
   :success (lambda (result) (pwnm-sync--accept-done result dry-run))))

(defun pwnm-sync--accept-done (result dry-run)
  "Log and show the accept-from-git RESULT (of a DRY-RUN or not)."
  (let ((matched (plist-get result :matched)))
    (seq-doseq (m matched)
      (pwnm-sync--log "accept %s %s -> %s patch %s (by %s): %s" (substring (plist-get m :commit) 0 12)
                      (plist-get m :subject) (plist-get m :project) (plist-get m :patchId)
                      (plist-get m :via) (plist-get m :outcome)))
    (seq-doseq (u (plist-get result :unmatched))
      (pwnm-sync--log "accept %s %s: unmatched" (substring (plist-get u :commit) 0 12) (plist-get u :subject)))
    (seq-doseq (a (plist-get result :ambiguous))
      (pwnm-sync--log "accept %s %s: ambiguous" (substring (plist-get a :commit) 0 12) (plist-get a :subject)))
    (pwnm-sync--message "%s%d matched, %d ambiguous, %d unmatched (see *pwnm-sync*)"
                        (if dry-run "Dry run: " "")
                        (length matched) (length (plist-get result :ambiguous))
                        (length (plist-get result :unmatched)))))

;;; Applying patches

(declare-function magit-status "magit-status" (&optional directory cache))

(defvar pwnm-sync--apply-running nil
  "Non-nil while an apply runs.")

(defun pwnm-sync--apply-project ()
  "Return the project (a plist) of the patch or cover letter at point."
  (car (pwnm-sync--read-project (if (pwnm-sync--cover-letter-p)
                                    (pwnm-sync--thread-tags)
                                  (pwnm-sync--patch-tags-at-point)))))

(defun pwnm-sync--apply-message-id ()
  "Return the Message-Id to apply from at point.
A cover letter's own (the server applies its series), else the patch
the state keys act on: on a reply, the patch it answers."
  (if (pwnm-sync--cover-letter-p)
      (notmuch-show-get-message-id t)
    (pwnm-sync--patch-id-at-point)))

(defun pwnm-sync--project-repository (project)
  "Return the git repository of PROJECT (a plist), asking once.
The answer is remembered in `pwnm-sync-project-repositories', and saved
with Customize when there is a file to save it in."
  (let ((name (plist-get project :project)))
    (or (cdr (assoc name pwnm-sync-project-repositories))
        (plist-get project :repo)
        (let ((dir (file-name-as-directory
                    (expand-file-name (read-directory-name (format "Git repository for %s: " name) nil nil t)))))
          (unless (file-exists-p (expand-file-name ".git" dir))
            (user-error "%s is not a git repository" dir))
          (pwnm-sync--remember 'pwnm-sync-project-repositories
                               (cons (cons name dir) (assoc-delete-all name (copy-sequence pwnm-sync-project-repositories))))
          dir))))

(declare-function custom-file "cus-edit" (&optional no-error))

(defun pwnm-sync--remember (symbol value)
  "Set the option SYMBOL to VALUE, and save it with Customize if you say so.
Your init file (or `custom-file') is written only after a `y-or-n-p';
when there is none, or it cannot be written, VALUE holds for this
session and the echo area says why."
  (customize-set-variable symbol value)
  (require 'cus-edit)
  (let ((file (custom-file t)))
    (cond ((null file)
           (pwnm-sync--message "%s set for this session: no init file to save it in" symbol))
          ((not (y-or-n-p (format "Save %s in %s? " symbol (abbreviate-file-name file))))
           (pwnm-sync--message "%s set for this session only" symbol))
          ((not (file-writable-p file))
           (pwnm-sync--message "%s set for this session only: %s cannot be written" symbol
                               (abbreviate-file-name file)))
          (t (condition-case err
                 (progn (customize-save-variable symbol value)
                        (pwnm-sync--message "%s saved in %s" symbol (abbreviate-file-name file)))
               (error (pwnm-sync--error "%s set for this session only: saving it in %s failed: %s"
                                        symbol (abbreviate-file-name file) (error-message-string err))))))))

(defun pwnm-sync--apply-buffer ()
  "Return the *pwnm-sync apply* buffer, emptied."
  (with-current-buffer (get-buffer-create "*pwnm-sync apply*")
    (unless (derived-mode-p 'special-mode) (special-mode))
    (let ((inhibit-read-only t)) (erase-buffer))
    (current-buffer)))

(defun pwnm-sync--apply-insert (format-string &rest args)
  "Append FORMAT-STRING formatted with ARGS to the *pwnm-sync apply* buffer."
  (with-current-buffer (get-buffer-create "*pwnm-sync apply*")
    (let ((inhibit-read-only t))
      (goto-char (point-max))
      (insert (apply #'format format-string args)))))

(defun pwnm-sync--apply-done (result repo)
  "Show the apply RESULT for REPO.
On a conflict, display *pwnm-sync apply* without selecting it: this
runs from the server's answer, maybe while you type elsewhere.  It has
a button to `magit-status' in REPO when magit is installed."
  (setq pwnm-sync--apply-running nil)
  (seq-doseq (p (plist-get result :patches))
    (pwnm-sync--apply-insert "%-11s %s\n" (plist-get p :outcome) (plist-get p :subject)))
  (pwnm-sync--apply-insert "\n%s\n\n%s" (plist-get result :message) (plist-get result :output))
  (pwnm-sync--log "apply: %s" (plist-get result :message))
  (if (not (equal (plist-get result :outcome) "conflict"))
      (pwnm-sync--message "%s" (car (split-string (plist-get result :message) "\n")))
    (pwnm-sync--message "Patch %s/%d does not apply: see *pwnm-sync apply*"
                        (plist-get (plist-get result :failed) :index) (length (plist-get result :patches)))
    (when (fboundp 'magit-status)
      (with-current-buffer "*pwnm-sync apply*"
        (let ((inhibit-read-only t))
          (goto-char (point-max))
          (insert "\n")
          (insert-text-button "[magit-status]" 'action (lambda (_) (magit-status repo)) 'follow-link t
                              'help-echo (format "Open magit-status in %s" repo))
          (insert "\n"))))
    (display-buffer "*pwnm-sync apply*")))

(defun pwnm-sync-apply (message-id project repo &optional single)
  "Apply the series of the patch MESSAGE-ID of PROJECT to the git REPO.
With SINGLE (interactively, the command `pwnm-sync-apply-patch'), only
that patch; a cover letter always means its series.  A prefix
argument changes nothing: it means the series everywhere.

The server downloads the mbox
from Patchwork, with the trailers that replies collected, and runs
`git am' without blocking Emacs; the outcome and git's output go to
the *pwnm-sync apply* buffer.  On a conflict the repository stays in
`git am', and that buffer is displayed (not selected), with a button
to `magit-status' when magit is installed.
Interactively REPO comes from `pwnm-sync-project-repositories', asked
for the first time."
  (interactive
   (let ((project (pwnm-sync--apply-project)))
     (list (pwnm-sync--apply-message-id) (plist-get project :project)
           (pwnm-sync--project-repository project))))
  (let ((repo (expand-file-name repo)))
    (pwnm-sync--apply-start (format "%s of %s" (if single "the patch" "the series") message-id)
                            (list :messageId message-id :project project :repo repo
                                  :series (if single :json-false t))
                            repo)))

(defun pwnm-sync--apply-start (what params repo)
  "Ask the server to apply WHAT (words for people) to REPO, without waiting.
PARAMS are the `apply' request's; `pwnm-sync--apply-done' shows the outcome."
  (when pwnm-sync--apply-running
    (user-error "An apply is already running; see *pwnm-sync apply*"))
  (setq pwnm-sync--apply-running t)
  (pwnm-sync--apply-buffer)
  (pwnm-sync--apply-insert "Applying %s to %s\n\n" what repo)
  (pwnm-sync--message "Applying %s to %s..." what repo)
  (pwnm-sync--request
   :apply params
   :label "apply"
   :timeout nil
   :success (lambda (result) (pwnm-sync--apply-done result repo))
   :cancelled (lambda ()
                (setq pwnm-sync--apply-running nil)
                (pwnm-sync--apply-insert "Cancelled: the repository is back where it was.\n")
                (pwnm-sync--message "Apply cancelled: see *pwnm-sync apply*"))
   :error (lambda (err)
            (setq pwnm-sync--apply-running nil)
            (let ((text (pwnm-sync--request-error-message err)))
              (pwnm-sync--apply-insert "%s\n" text)
              (pwnm-sync--error "Apply failed: %s" text)))))

(defun pwnm-sync-apply-patch (message-id project repo)
  "Apply only the patch MESSAGE-ID of PROJECT to the git REPO.
As `pwnm-sync-apply' with SINGLE; on a cover letter, its series."
  (interactive
   (let ((project (pwnm-sync--apply-project)))
     (list (pwnm-sync--apply-message-id) (plist-get project :project)
           (pwnm-sync--project-repository project))))
  (pwnm-sync-apply message-id project repo t))

;;; Patch facts

(defun pwnm-sync--message-id-at-point ()
  "Return the bare Message-Id at point, or signal a user error."
  (or (pcase major-mode
        ('notmuch-show-mode (notmuch-show-get-message-id t))
        ('notmuch-tree-mode (notmuch-tree-get-message-id t))
        ('notmuch-search-mode
         (let ((ids (notmuch-call-notmuch-sexp "search" "--output=messages" "--format=sexp"
                                               (format "(%s) and tag:patchwork" (notmuch-search-find-thread-id)))))
           (car ids))))
      (user-error "No patch message at point")))

(defun pwnm-sync-patch-info (message-id &optional refresh)
  "Show what Patchwork knows of the patch MESSAGE-ID, without waiting.
With REFRESH (interactively, the command `pwnm-sync-patch-info-refresh'),
re-read the patch from Patchwork first.
The facts show in *pwnm-sync patch* when the server answers (its CI
results come from Patchwork, so this can take a moment); return the
request's cancel token."
  (interactive (list (pwnm-sync--patch-message-id-at-point "Y i")))
  (pwnm-sync--message "Asking for the facts of %s..." message-id)
  (pwnm-sync--request
   :patchInfo (list :messageId message-id :refresh (if refresh t :json-false))
   :label "patch info"
   :success (lambda (info)
              (pwnm-sync--show-patch-info (plist-get info :patches))
              (message nil))))

(defun pwnm-sync-patch-info-refresh (message-id)
  "Re-read the patch MESSAGE-ID from Patchwork and show its facts."
  (interactive (list (pwnm-sync--patch-message-id-at-point "Y I")))
  (pwnm-sync-patch-info message-id t))

(defun pwnm-sync--show-patch-info (patches)
  "Show PATCHES, the patchInfo result's list, in *pwnm-sync patch*."
  (with-help-window "*pwnm-sync patch*"
    (seq-doseq (p patches)
      (princ (format "%s (%s), patch %s\n" (plist-get p :project) (plist-get p :instance) (plist-get p :patchId)))
      (princ (format "  %s\n" (or (plist-get p :name) "")))
      (princ (format "  State:    %s%s\n" (plist-get p :stateName)
                     (if (eq (plist-get p :archived) t) ", archived" "")))
      (princ (format "  Delegate: %s\n" (or (plist-get p :delegate) "nobody")))
      (let ((series (plist-get p :series)))
        (when series
          (princ (format "  Series:   v%s %s/%s %s\n" (or (plist-get series :version) 1)
                         (or (plist-get series :part) 1) (or (plist-get series :total) 1)
                         (or (plist-get series :name) "")))))
      (unless (seq-empty-p (plist-get p :dependsOn))
        (princ (format "  Needs:    %s\n" (mapconcat (lambda (d) (format "%s (series %s)" (plist-get d :name) (plist-get d :id)))
                                                  (plist-get p :dependsOn) ", "))))
      (princ (format "  CI:       %s\n" (or (plist-get p :check) "unknown")))
      (seq-doseq (c (or (plist-get p :checks) []))
        (princ (format "    %-8s %s %s\n" (plist-get c :state) (plist-get c :context)
                       (or (plist-get c :targetUrl) ""))))
      (princ (format "  Date:     %s\n" (or (plist-get p :date) "")))
      (princ (format "  Web:      %s\n" (or (plist-get p :webUrl) "")))
      (princ (format "  Mbox:     %s\n" (or (plist-get p :mboxUrl) "")))
      (let ((bundles (plist-get p :bundles)))
        (unless (seq-empty-p bundles)
          (princ (format "  Bundles:  %s\n" (mapconcat (lambda (b) (plist-get b :name)) bundles ", ")))))
      (let ((review (plist-get p :review)))
        (when review
          (let ((words (string-join (append (plist-get review :tags)
                                            (and (eq (plist-get review :needsMyReview) t)
                                                 '("needs my review")))
                                    ", ")))
            (princ (format "  Review:   %s\n" (if (string-empty-p words) "none" words))))))
      (seq-doseq (w (plist-get p :pending))
        (princ (format "  Waiting:  %s %s\n" (plist-get w :kind) (plist-get w :reason))))
      (princ "\n"))))

(defun pwnm-sync-browse (message-id)
  "Open the Patchwork web page of the patch MESSAGE-ID, without waiting.
The server answers from its state database (no CI checks asked).
Interactively, the patch at point (on a reply, the patch it answers);
on a cover letter, the page that lists its series' patches."
  (interactive (list (if (pwnm-sync--cover-letter-p)
                         (notmuch-show-get-message-id t)
                       (pwnm-sync--patch-id-at-point))))
  (if (and (called-interactively-p 'any) (pwnm-sync--cover-letter-p))
      (pwnm-sync--with-series-patches
       message-id "browse"
       (lambda (patches) (pwnm-sync--browse-series (plist-get (car patches) :msgid))))
    (pwnm-sync--browse-patch message-id)))

(defun pwnm-sync--browse-series (message-id)
  "Open the Patchwork page listing the series of the patch MESSAGE-ID.
Patchwork's own address for a series: the project's patch list
filtered by it (the series' web_url in the REST API)."
  (pwnm-sync--request
   :patchInfo (list :messageId message-id :checks :json-false)
   :label "browse"
   :success (lambda (info)
              (let* ((patch (seq-first (plist-get info :patches)))
                     (url (plist-get patch :webUrl))
                     (series (plist-get (plist-get patch :series) :id)))
                (if (and url series (string-match "\\(/project/[^/]+\\)/patch/.*\\'" url))
                    (browse-url (replace-match (format "\\1/list/?series=%d" series) t nil url))
                  (pwnm-sync--error "Patchwork gave no web page for the series of %s" message-id))))))

(defun pwnm-sync--browse-patch (message-id)
  "Open the Patchwork web page of the patch MESSAGE-ID."
  (pwnm-sync--request
   :patchInfo (list :messageId message-id :checks :json-false)
   :label "browse"
   :success (lambda (info)
              (let ((url (plist-get (seq-first (plist-get info :patches)) :webUrl)))
                (if url (browse-url url)
                  (pwnm-sync--error "Patchwork gave no web page for %s" message-id))))))

;;; What waits

(defvar-local pwnm-sync--pending-items nil
  "The items shown in a `pwnm-sync-pending-mode' buffer.")

(defvar-local pwnm-sync--pending-marked nil
  "The ids of the items marked for dropping in a `pwnm-sync-pending-mode' buffer.")

(defvar pwnm-sync-pending-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map "r" #'pwnm-sync-pending-retry)
    (define-key map "d" #'pwnm-sync-pending-mark-drop)
    (define-key map "u" #'pwnm-sync-pending-unmark)
    (define-key map "x" #'pwnm-sync-pending-execute)
    (define-key map (kbd "RET") #'pwnm-sync-pending-open)
    map)
  "Keymap for `pwnm-sync-pending-mode'.")

(define-derived-mode pwnm-sync-pending-mode tabulated-list-mode "pwnm-sync pending"
  "What waits for you: queued pushes, conflicts, ambiguous tags, refusals.
As `list-packages': \\[pwnm-sync-pending-mark-drop] marks an item to drop, \\[pwnm-sync-pending-unmark] unmarks it,
\\[pwnm-sync-pending-execute] drops the marked ones after asking, \\[revert-buffer] reloads the list.

\\{pwnm-sync-pending-mode-map}"
  (setq tabulated-list-format [("Kind" 9 t) ("Project" 12 t) ("State" 16 t) ("Subject" 50 t) ("Why" 0 nil)]
        tabulated-list-padding 2)
  (setq-local revert-buffer-function (lambda (&rest _) (pwnm-sync-pending-refresh)))
  (tabulated-list-init-header))

(defun pwnm-sync-pending ()
  "List what waits: queued pushes, conflicts, ambiguous tags and refusals.
The buffer opens at once and fills when the server answers."
  (interactive)
  (with-current-buffer (get-buffer-create "*pwnm-sync pending*")
    (unless (derived-mode-p 'pwnm-sync-pending-mode) (pwnm-sync-pending-mode))
    (pwnm-sync-pending-refresh)
    (pop-to-buffer (current-buffer))))

(defun pwnm-sync--subjects (ids)
  "Return an alist of (ID . SUBJECT) for the messages IDS, from one notmuch call."
  (let ((found nil))
    (when ids
      (cl-labels ((walk (x)
                    (cond ((and (consp x) (keywordp (car x)) (plist-get x :id))
                           (push (cons (plist-get x :id) (plist-get (plist-get x :headers) :Subject)) found))
                          ((consp x) (mapc #'walk x)))))
        (walk (ignore-errors
                (pwnm-sync--call-sexp "show" "--format=sexp" "--body=false" "--entire-thread=false"
                                      (mapconcat #'notmuch-id-to-query (delete-dups (copy-sequence ids)) " or "))))))
    found))

(defun pwnm-sync--pending-show (items)
  "Show ITEMS, the pending result's list, in *pwnm-sync pending*.
Each with its message's subject from notmuch (its Message-Id when
notmuch has no such message); marks stay on the items still there."
  (with-current-buffer (get-buffer-create "*pwnm-sync pending*")
    (unless (derived-mode-p 'pwnm-sync-pending-mode) (pwnm-sync-pending-mode))
    (let ((subjects (pwnm-sync--subjects (cl-loop for item across items collect (plist-get item :messageId)))))
      (setq pwnm-sync--pending-items items
            pwnm-sync--pending-marked (cl-loop for item across items
                                               for id = (plist-get item :id)
                                               when (member id pwnm-sync--pending-marked) collect id)
            tabulated-list-entries
            (cl-loop for item across items
                     for msgid = (plist-get item :messageId)
                     collect (list (plist-get item :id)
                                   (vector (plist-get item :kind) (plist-get item :project)
                                           (or (plist-get item :state) "")
                                           (or (cdr (assoc msgid subjects)) msgid)
                                           (or (plist-get item :reason) ""))))))
    (tabulated-list-print t)
    (save-excursion
      (goto-char (point-min))
      (while (not (eobp))
        (when (member (tabulated-list-get-id) pwnm-sync--pending-marked)
          (tabulated-list-put-tag "D"))
        (forward-line 1)))))

(defun pwnm-sync-pending-refresh ()
  "Reload the list of what waits, without waiting."
  (interactive)
  (pwnm-sync--request :pending nil
                      :label "pending"
                      :success (lambda (result) (pwnm-sync--pending-show (plist-get result :items)))))

(defun pwnm-sync-pending-retry (id)
  "Retry the pending item ID (interactively, the one at point), without waiting."
  (interactive (list (or (tabulated-list-get-id) (user-error "No item at point"))))
  (pwnm-sync--message "Retrying...")
  (pwnm-sync--request :retry (list :ids (vector id))
                      :label "retry"
                      :needs-token t
                      :success (lambda (result)
                                 (pwnm-sync--report-push (plist-get result :results))
                                 (pwnm-sync-pending-refresh))))

(defun pwnm-sync-pending-mark-drop ()
  "Mark the item at point to be dropped (by \\[pwnm-sync-pending-execute]); go to the next."
  (interactive)
  (let ((id (or (tabulated-list-get-id) (user-error "No item at point"))))
    (cl-pushnew id pwnm-sync--pending-marked :test #'equal)
    (tabulated-list-put-tag "D" t)))

(defun pwnm-sync-pending-unmark ()
  "Take the mark off the item at point; go to the next."
  (interactive)
  (let ((id (or (tabulated-list-get-id) (user-error "No item at point"))))
    (setq pwnm-sync--pending-marked (delete id pwnm-sync--pending-marked))
    (tabulated-list-put-tag "" t)))

(defun pwnm-sync-pending-execute ()
  "Drop the marked items, after asking."
  (interactive)
  (let ((ids (reverse pwnm-sync--pending-marked)))
    (cond ((null ids) (user-error "No item marked (d marks one)"))
          ((y-or-n-p (format "Forget %d marked item(s)? " (length ids)))
           (setq pwnm-sync--pending-marked nil)
           (pwnm-sync-pending-drop ids))
          (t (pwnm-sync--message "Nothing dropped")))))

(defun pwnm-sync-pending-drop (ids)
  "Forget the pending items IDS (a list, or one id) at once, on the server."
  (pwnm-sync--request :drop (list :ids (vconcat (if (listp ids) ids (list ids))))
                      :label "drop"
                      :success (lambda (r)
                                 (pwnm-sync--message "%d item(s) dropped" (plist-get r :dropped))
                                 (pwnm-sync-pending-refresh))))

(defun pwnm-sync-pending-open (id)
  "Show the message of the pending item ID (interactively, the one at point)."
  (interactive (list (or (tabulated-list-get-id) (user-error "No item at point"))))
  (let ((item (seq-find (lambda (i) (equal (plist-get i :id) id)) pwnm-sync--pending-items)))
    (notmuch-show (notmuch-id-to-query (plist-get item :messageId)))))

;;; Bundles
;;
;; Your Patchwork bundles are tags, pw-PROJECT-bundle-NAME (the server
;; syncs them both ways).  These commands change a bundle at once; the
;; names for completion and the hello section come from the bundles the
;; server's last sync saw, asked for in the background.

(defvar pwnm-sync--bundles nil
  "Your bundles as the server last listed them.
Plists with :name :project :tag :count.")

(defun pwnm-sync--refresh-bundles ()
  "Ask the server for your bundles (from its state database, no Patchwork request).
When they changed, redraw `notmuch-hello'."
  (pwnm-sync--request
   :bundles (list :cached t)
   :label "bundles"
   :success (lambda (result)
              (let ((bundles (append (plist-get result :bundles) nil)))
                (unless (equal bundles pwnm-sync--bundles)
                  (setq pwnm-sync--bundles bundles)
                  (pwnm-sync--refresh-hello))))
   :error #'ignore))

(defun pwnm-sync--bundle-names (&optional tags)
  "Return the names of your bundles; with TAGS, only those whose tag is among them."
  (delete-dups (cl-loop for b in pwnm-sync--bundles
                        when (or (null tags) (member (plist-get b :tag) tags))
                        collect (plist-get b :name))))

(defun pwnm-sync--patch-message-ids (key)
  "Return the Message-Ids of the patch messages KEY acts on at point.
In show the patch at point, or the patch a reply answers (a cover
letter is refused, naming KEY); in tree the message; in search the
patch messages of the thread at point or of the threads in the region."
  (or (pcase major-mode
        ('notmuch-show-mode (list (pwnm-sync--patch-message-id-at-point key)))
        ('notmuch-tree-mode (list (notmuch-tree-get-message-id t)))
        ('notmuch-search-mode
         (let ((threads (if (use-region-p)
                            (notmuch-search-find-stable-query-region (region-beginning) (region-end))
                          (notmuch-search-find-thread-id))))
           (notmuch-call-notmuch-sexp "search" "--output=messages" "--format=sexp"
                                      (format "(%s) and tag:patchwork" threads)))))
      (user-error "No patch message at point")))

(defun pwnm-sync-bundle-add (name message-ids &optional series)
  "Add the patches MESSAGE-IDS to your Patchwork bundle NAME, without waiting.
Interactively, NAME is read with completion over your bundles (a new
name creates a private bundle), and MESSAGE-IDS are the patch at point,
or in search the patches of the thread at point or of the region.
With SERIES (interactively, a prefix argument), the server adds the
whole series of each.  The tags follow when Patchwork confirms it."
  (interactive (list (completing-read "Add to bundle (a new name creates it): " (pwnm-sync--bundle-names))
                     (pwnm-sync--patch-message-ids "Y B")
                     current-prefix-arg))
  (when (string-empty-p name) (user-error "No bundle name given"))
  (pwnm-sync--request
   :bundleAdd (list :name name :messageIds (vconcat message-ids) :series (if series t :json-false))
   :label "bundle add"
   :needs-token t
   :success (lambda (r)
              (pwnm-sync--message "%s %s: %d added, %d in all"
                                  (if (eq (plist-get r :created) t) "New bundle" "Bundle")
                                  name (plist-get r :changed) (plist-get r :patches))
              (pwnm-sync--refresh-bundles))))

(defun pwnm-sync-bundle-remove (name message-ids)
  "Take the patches MESSAGE-IDS out of your Patchwork bundle NAME, without waiting.
Interactively, NAME is read with completion over the bundles the
message at point is in."
  (interactive (let ((names (pwnm-sync--bundle-names (pwnm-sync--tags-at-point))))
                 (unless names (user-error "Not in one of your bundles"))
                 (list (completing-read "Remove from bundle: " names nil t)
                       (pwnm-sync--patch-message-ids "Y D"))))
  (pwnm-sync--request
   :bundleRemove (list :name name :messageIds (vconcat message-ids))
   :label "bundle remove"
   :needs-token t
   :success (lambda (r)
              (pwnm-sync--message "Bundle %s: %d removed, %d left" name (plist-get r :changed) (plist-get r :patches))
              (pwnm-sync--refresh-bundles))))

(defun pwnm-sync--hello-bundle-searches ()
  "Return saved-search plists, one per bundle of yours."
  (cl-loop for b in pwnm-sync--bundles
           collect (list :name (format "%s bundle %s" (plist-get b :project) (plist-get b :name))
                         :query (format "tag:%s" (plist-get b :tag)))))

;;; notmuch-hello

(defun pwnm-sync--hello-searches ()
  "Return saved-search plists for the Patchwork section.
From the remembered projects and the tag names the server gave."
  (cl-loop for p in pwnm-sync--facts
           append (cl-loop for name in pwnm-sync-hello-states
                           for tag = (or (cdr (assoc name (pwnm-sync--state-tags p)))
                                         (pwnm-sync--family-tag p name))
                           when tag
                           collect (list :name (format "%s %s" (plist-get p :project) name)
                                         :query (pwnm-sync-hello-query p tag)))))

(defun pwnm-sync--hello-may-start-p ()
  "Return non-nil if a hello redraw should start the server.
Not when it runs, nor after it failed to start or died: each redraw
would start another; a command starts it then.  Nor as Emacs exits."
  (not (or pwnm-sync--start-failure pwnm-sync--server-died pwnm-sync--exiting
           (and pwnm-sync--connection (jsonrpc-running-p pwnm-sync--connection)))))

(defun pwnm-sync--hello-start ()
  "Start the server for hello, if that is still right."
  (when (pwnm-sync--hello-may-start-p)
    (pwnm-sync--with-connection #'ignore #'ignore)))

(defun pwnm-sync-hello-insert ()
  "Insert the \"Patchwork\" section into notmuch-hello.
Put it in `notmuch-hello-sections' (`pwnm-sync-mode' does so).  Entries
with no messages show only when `notmuch-show-empty-saved-searches' is
set, as in notmuch's own saved-searches section.

Never waits for the server: the counts come from notmuch (`notmuch
count --batch', as for notmuch-hello's own searches), the projects and
tag names from what the server said last (`pwnm-sync-facts-file').
The server starts afterwards, from a timer, and the section is redrawn
if what it says has changed."
  (pwnm-sync--load-facts)
  (when (pwnm-sync--hello-may-start-p)
    (run-with-timer 0 nil #'pwnm-sync--hello-start))
  (condition-case err
      (if pwnm-sync--facts
          (progn
            (notmuch-hello-insert-searches "Patchwork" (append (pwnm-sync--hello-searches)
                                                               (pwnm-sync--hello-bundle-searches))
                                           :show-empty-searches notmuch-show-empty-saved-searches)
            (pwnm-sync-hello-insert-status))
        (widget-insert (if pwnm-sync--start-failure
                           (format "Patchwork: the pwnm-sync server did not start: %s (M-x pwnm-sync-events)\n"
                                   pwnm-sync--start-failure)
                         "Patchwork: waiting for the pwnm-sync server to describe the projects.\n")))
    (error (widget-insert (format "Patchwork: %s\n" (error-message-string err))))))

;;; The cockpit (issue 25): the Y menu, show, lists, in their own files

(declare-function pwnm-sync-transient-install "pwnm-sync-transient")
(declare-function pwnm-sync-transient-uninstall "pwnm-sync-transient")
(declare-function pwnm-sync-show-install "pwnm-sync-show")
(declare-function pwnm-sync-show-uninstall "pwnm-sync-show")
(declare-function pwnm-sync-lists-install "pwnm-sync-lists")
(declare-function pwnm-sync-lists-uninstall "pwnm-sync-lists")
(declare-function pwnm-sync-hello-query "pwnm-sync-lists")
(declare-function pwnm-sync-hello-insert-status "pwnm-sync-lists")
(declare-function pwnm-sync-hello-refresh-counts "pwnm-sync-lists")

(defun pwnm-sync--cockpit-install ()
  "Turn on the parts in the other files: the menu, the facts line, the lists."
  (pwnm-sync-transient-install)
  (pwnm-sync-show-install)
  (pwnm-sync-lists-install))

(defun pwnm-sync--cockpit-uninstall ()
  "Undo `pwnm-sync--cockpit-install'."
  (when (featurep 'pwnm-sync-transient)
    (pwnm-sync-transient-uninstall)
    (pwnm-sync-show-uninstall)
    (pwnm-sync-lists-uninstall)))

;;; The minor mode

(defun pwnm-sync--current-state ()
  "Return a text naming the Patchwork state of the message at point, or nil."
  (let ((tags (ignore-errors (pwnm-sync--tags-at-point))))
    (pwnm-sync--load-facts)
    (and tags
         (let ((found (cl-loop for p in pwnm-sync--facts
                               when (member (plist-get p :tag) tags)
                               collect (format "%s: %s%s" (plist-get p :project)
                                               (or (cl-loop for s across (plist-get p :states)
                                                            when (member (plist-get s :tag) tags)
                                                            return (plist-get s :name))
                                                   "no state")
                                               (if (member (pwnm-sync--family-tag p "archived") tags) ", archived" "")))))
           (and found (string-join found "; "))))))

(defconst pwnm-sync--keys-help
  "C-u means one thing: the whole series of the patch at point (state
keys, B).  The other variants have their own keys: 1 applies the patch
alone (! its series), I re-reads the facts from Patchwork, G syncs in
full.  M-- before t (and M-x pwnm-sync-accept-from-git,
pwnm-sync-mail-fill) is a dry run.

What a key acts on: a patch, itself; a reply, the patch it answers; a
cover letter, its series (state keys, A, m, b, !; the others say
they need a patch); a thread in search, its patch, asking which when
it holds several.
"
  "What `pwnm-sync-keys' says of the prefix argument and of what keys act on.")

(defun pwnm-sync-keys ()
  "Show the keys of `pwnm-sync-state-map' and the patch's current state."
  (interactive)
  (let ((state (pwnm-sync--current-state))
        (keys (substitute-command-keys "\\{pwnm-sync-state-map}")))
    (with-help-window "*pwnm-sync keys*"
      (princ (format "Patch at point: %s\n\n" (or state "not a patch of a synced project")))
      (princ (format "Keys after %s.\n\n" (key-description pwnm-sync-key-prefix)))
      (princ pwnm-sync--keys-help)
      (princ keys))))


(autoload 'pwnm-sync-mail-thanks "pwnm-sync-mail" nil t)
(autoload 'pwnm-sync-mail-fill "pwnm-sync-mail" nil t)

(defvar pwnm-sync-state-map
  (let ((map (make-sparse-keymap)))
    (define-key map "t" #'pwnm-sync-mail-thanks)
    (define-key map "a" #'pwnm-sync-state-accepted)
    (define-key map "u" #'pwnm-sync-state-under-review)
    (define-key map "c" #'pwnm-sync-state-changes-requested)
    (define-key map "r" #'pwnm-sync-state-rejected)
    (define-key map "s" #'pwnm-sync-state-superseded)
    (define-key map "n" #'pwnm-sync-state-new)
    (define-key map "f" #'pwnm-sync-state-rfc)
    (define-key map "d" #'pwnm-sync-state-deferred)
    (define-key map "N" #'pwnm-sync-state-not-applicable)
    (define-key map "w" #'pwnm-sync-state-awaiting-upstream)
    (define-key map "Y" #'pwnm-sync-set-state)
    (define-key map "A" #'pwnm-sync-toggle-archived)
    (define-key map "m" #'pwnm-sync-delegate-to-me)
    (define-key map "i" #'pwnm-sync-patch-info)
    (define-key map "I" #'pwnm-sync-patch-info-refresh)
    (define-key map "b" #'pwnm-sync-browse)
    (define-key map "B" #'pwnm-sync-bundle-add)
    (define-key map "D" #'pwnm-sync-bundle-remove)
    (define-key map "p" #'pwnm-sync-pending)
    (define-key map "g" #'pwnm-sync)
    (define-key map "G" #'pwnm-sync-full)
    (define-key map "!" #'pwnm-sync-apply)
    (define-key map "1" #'pwnm-sync-apply-patch)
    (define-key map "k" #'pwnm-sync-cancel)
    (define-key map "?" #'pwnm-sync-keys)
    map)
  "Keys for Patchwork states, under `pwnm-sync-key-prefix'.

\\{pwnm-sync-state-map}")

(defconst pwnm-sync--mode-maps '(notmuch-show-mode-map notmuch-search-mode-map notmuch-tree-mode-map)
  "The notmuch keymaps that get the state keymap.")

(defvar pwnm-sync--timer nil
  "Timer of the automatic sync, or nil.")

;; What `pwnm-sync-mode' replaced, to put back exactly that when it is
;; turned off.
(defvar pwnm-sync--saved-bindings nil
  "Alist of (KEYMAP-SYMBOL KEY . BINDING) the mode replaced.")

(defvar pwnm-sync--saved-hello-sections nil
  "The `notmuch-hello-sections' list the mode found, or nil.")

(defvar pwnm-sync--hello-sections nil
  "The `notmuch-hello-sections' list the mode set.
To tell whether the user changed it since.")

(defvar pwnm-sync--auto-sync-errors-shown nil
  "Kinds (error symbols) of automatic sync failure already shown in the echo area.")

(defun pwnm-sync--auto-sync-failed (kind text)
  "Log that an automatic sync failed with TEXT; show it once per KIND.
KIND is an error symbol, the server's error code, or the text of
why the server did not start."
  (pwnm-sync--log "error: automatic sync failed: %s" text)
  (unless (member kind pwnm-sync--auto-sync-errors-shown)
    (push kind pwnm-sync--auto-sync-errors-shown)
    (pwnm-sync--message "Automatic sync failed: %s (see *pwnm-sync*; said once)" text)))

(defun pwnm-sync--auto-sync ()
  "Start a sync unless one is running.
A failure, in starting it or from the server, is logged in *pwnm-sync*
each time, and shown in the echo area the first time for each kind of
error."
  (unless pwnm-sync--sync-running
    (condition-case err
        (let ((pwnm-sync--automatic t))
          (pwnm-sync))
      (error (pwnm-sync--auto-sync-failed (car err) (pwnm-sync--request-error-message err))))))

(defun pwnm-sync--with-hello-section (sections)
  "Return a copy of SECTIONS that has the Patchwork section too.
It goes after `notmuch-hello-insert-saved-searches', else last."
  (let ((tail (memq #'notmuch-hello-insert-saved-searches sections)))
    (if tail
        (append (butlast sections (1- (length tail)))
                (list #'pwnm-sync-hello-insert)
                (cdr tail))
      (append sections (list #'pwnm-sync-hello-insert)))))

(defun pwnm-sync--kill-emacs ()
  "Tell the server Emacs exits, and let nothing start another.
In `kill-emacs-hook'.  Waits for nothing: closing the server's input
is `shutdown' and `exit' to it, and it finishes alone.  A wait here
runs timers and filters while Emacs is half gone (after SIGHUP, that
kept Emacs from exiting)."
  (setq pwnm-sync--exiting t)
  (dolist (timer (list pwnm-sync--timer pwnm-sync--refresh-timer))
    (when (timerp timer) (cancel-timer timer)))
  (let ((conn pwnm-sync--connection))
    (setq pwnm-sync--connection nil)
    (when conn
      (let ((proc (pwnm-sync--server-process conn)))
        (when (process-live-p proc) (ignore-errors (process-send-eof proc)))))))

(defun pwnm-sync--install ()
  "Bind the state keymap, add the hooks and the `notmuch-hello' section."
  (setq pwnm-sync--saved-bindings nil)
  (dolist (map pwnm-sync--mode-maps)
    (push (cons map (cons pwnm-sync-key-prefix (lookup-key (symbol-value map) pwnm-sync-key-prefix)))
          pwnm-sync--saved-bindings)
    (define-key (symbol-value map) pwnm-sync-key-prefix pwnm-sync-state-map))
  (pwnm-sync--cockpit-install)
  (add-hook 'notmuch-after-tag-hook #'pwnm-sync--after-tag)
  (add-hook 'kill-emacs-hook #'pwnm-sync--kill-emacs)
  (add-hook 'window-buffer-change-functions #'pwnm-sync--on-window-change)
  (unless (memq #'pwnm-sync-hello-insert notmuch-hello-sections)
    (setq pwnm-sync--saved-hello-sections notmuch-hello-sections
          notmuch-hello-sections (pwnm-sync--with-hello-section notmuch-hello-sections)
          pwnm-sync--hello-sections notmuch-hello-sections))
  (when pwnm-sync-auto-sync-interval
    (setq pwnm-sync--timer (run-with-timer (* 60 pwnm-sync-auto-sync-interval)
                                           (* 60 pwnm-sync-auto-sync-interval)
                                           #'pwnm-sync--auto-sync))))

(defun pwnm-sync--uninstall ()
  "Put back what `pwnm-sync--install' replaced."
  (when pwnm-sync--timer
    (cancel-timer pwnm-sync--timer)
    (setq pwnm-sync--timer nil))
  (pwnm-sync--cockpit-uninstall)
  (pcase-dolist (`(,map ,key . ,binding) pwnm-sync--saved-bindings)
    ;; Only our own binding is taken back: one the user made since stays.
    (when (eq (lookup-key (symbol-value map) key) pwnm-sync-state-map)
      (define-key (symbol-value map) key binding)))
  (setq pwnm-sync--saved-bindings nil)
  (remove-hook 'notmuch-after-tag-hook #'pwnm-sync--after-tag)
  (remove-hook 'kill-emacs-hook #'pwnm-sync--kill-emacs)
  (remove-hook 'window-buffer-change-functions #'pwnm-sync--on-window-change)
  (when pwnm-sync--refresh-timer
    (cancel-timer pwnm-sync--refresh-timer)
    (setq pwnm-sync--refresh-timer nil))
  (setq pwnm-sync--stale nil)
  (setq notmuch-hello-sections
        (if (and pwnm-sync--hello-sections (eq notmuch-hello-sections pwnm-sync--hello-sections))
            pwnm-sync--saved-hello-sections
          ;; Changed since: remove only our entry, copying rather than editing the list.
          (remq #'pwnm-sync-hello-insert notmuch-hello-sections)))
  (setq pwnm-sync--saved-hello-sections nil
        pwnm-sync--hello-sections nil))

;;;###autoload
(define-minor-mode pwnm-sync-mode
  "Patchwork states in notmuch-emacs.
Adds the Patchwork section to `notmuch-hello', the state keymap on
`pwnm-sync-key-prefix' in notmuch show, search and tree buffers, and
pushes state-tag changes made in Emacs to Patchwork.  Turned off, it
puts back what those keys were bound to and the sections as they were,
stops the automatic sync and the server (what it was doing stops as
\\[pwnm-sync-cancel] stops it), so that nothing retags or pushes any
more.  A command run afterwards starts the server again.

\\{pwnm-sync-state-map}"
  :global t
  :group 'pwnm-sync
  (pwnm-sync--uninstall)
  (if pwnm-sync-mode
      (pwnm-sync--install)
    (pwnm-sync-shutdown)))

(provide 'pwnm-sync)

;; The files that build on this one (after `provide': they require it).
(cl-eval-when (load eval)
  (require 'pwnm-sync-show)
  (require 'pwnm-sync-lists)
  (require 'pwnm-sync-transient))
;;; pwnm-sync.el ends here
