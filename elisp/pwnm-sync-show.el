;;; pwnm-sync-show.el --- A patch's Patchwork facts in notmuch-show  -*- lexical-binding: t; -*-

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

;; What a maintainer wants to see of a patch at a glance, with no
;; Patchwork request: one line under each patch message's header in
;; notmuch-show,
;;
;;   Patchwork: New · CI fail · v3 2/7 · delegated to jk · bundle: to-test · [web]
;;
;; built from the message's tags and from the server's state database
;; (`patchInfo' with checks off, which asks Patchwork nothing).  Also:
;; a `notmuch-tag-formats' entry that hides the `patchwork' and project
;; tags and shortens the others (pw-skiboot-changes-requested shows as
;; pw:changes-req), and pw- tags kept out of hello's "All tags".

;;; Code:

(require 'notmuch)
(require 'notmuch-show)
(require 'notmuch-hello)
(require 'notmuch-tag)
(require 'pwnm-sync)

(defcustom pwnm-sync-show-facts t
  "Non-nil: a line of Patchwork facts under each patch message in show.
From the local tags and the state database only, never from Patchwork."
  :type 'boolean
  :group 'pwnm-sync)

(defcustom pwnm-sync-short-tags nil
  "Non-nil: show pw- tags shortly in notmuch buffers.
Adds `pwnm-sync-tag-formats' to `notmuch-tag-formats' while
`pwnm-sync-mode' is on: `patchwork' and pw-PROJECT are hidden, the
others lose their project (pw-skiboot-changes-requested shows as
pw:changes-req)."
  :type 'boolean
  :group 'pwnm-sync)

(defcustom pwnm-sync-hello-hide-tags nil
  "Non-nil: keep the pw- tags out of notmuch-hello's \"All tags\" section."
  :type 'boolean
  :group 'pwnm-sync)

;;; The facts of a patch, remembered per message

(defvar pwnm-sync-facts--cache (make-hash-table :test #'equal)
  "Message-Id -> list of patchInfo plists (checks left out), or :unknown.")

(defun pwnm-sync-facts-cached-p (message-id)
  "Return non-nil if the server's facts of MESSAGE-ID are at hand."
  (gethash message-id pwnm-sync-facts--cache))

(defun pwnm-sync-facts-request (message-id callback)
  "Ask the server for the stored facts of MESSAGE-ID; call CALLBACK with them.
From its state database: `patchInfo' with checks off asks Patchwork
nothing.  CALLBACK gets the list of patch plists, or nil when the
server does not know the message."
  (pwnm-sync--request
   :patchInfo (list :messageId message-id :checks :json-false)
   :label "facts"
   :success (lambda (info)
              (let ((patches (append (plist-get info :patches) nil)))
                (puthash message-id patches pwnm-sync-facts--cache)
                (funcall callback patches)))
   :error (lambda (_)
            (puthash message-id :unknown pwnm-sync-facts--cache)
            (funcall callback nil))))

(defun pwnm-sync-facts-forget (message-ids)
  "Forget the remembered facts of MESSAGE-IDS (bare ids)."
  (dolist (id message-ids) (remhash id pwnm-sync-facts--cache)))

(defun pwnm-sync-facts--state (project tags)
  "Return the name of the state of PROJECT (a plist) that TAGS hold, or nil."
  (cl-loop for s across (plist-get project :states)
           when (member (plist-get s :tag) tags) return (plist-get s :name)))

(defun pwnm-sync-facts--ci (project tags patch)
  "Return the CI verdict of PROJECT (a plist) from TAGS.
With the failing contexts of PATCH, when the server knows them."
  (let ((verdict (or (cl-loop for c in '("fail" "warning" "success")
                              when (member (pwnm-sync--family-tag project (concat "check-" c)) tags) return c)
                     ;; No tag for a pending check: the state database says it.
                     (plist-get patch :check)))
        (failing (cl-loop for c across (or (plist-get patch :checks) [])
                          when (member (plist-get c :state) '("fail" "warning"))
                          collect (plist-get c :context))))
    (and verdict (concat "CI " verdict (if failing (format " (%s)" (string-join failing ", ")) "")))))

(defun pwnm-sync-facts--series (patch)
  "Return PATCH's series position, as \"v3 2/7\", or nil."
  (let ((series (plist-get patch :series)))
    (and series (plist-get series :total) (> (plist-get series :total) 1)
         (format "v%s %s/%s" (or (plist-get series :version) 1)
                 (or (plist-get series :part) "?") (plist-get series :total)))))

(defun pwnm-sync-facts-parts (message-id tags)
  "Return the facts of the patch MESSAGE-ID with TAGS, a list of strings.
State and CI from TAGS (they are kept current); series, delegate and
bundles from the remembered server facts, when there are some.  nil
when TAGS name no synced project."
  (pwnm-sync--load-facts)
  (let* ((cached (gethash message-id pwnm-sync-facts--cache))
         (patches (and (listp cached) cached)))
    (cl-loop for project in pwnm-sync--facts
             for patch = (seq-find (lambda (p) (equal (plist-get p :project) (plist-get project :project))) patches)
             when (member (plist-get project :tag) tags)
             append (delq nil
                          (list (if (cdr pwnm-sync--facts) (plist-get project :project))
                                (or (pwnm-sync-facts--state project tags) "no state")
                                (and (member (pwnm-sync--family-tag project "archived") tags) "archived")
                                (pwnm-sync-facts--ci project tags patch)
                                (pwnm-sync-facts--series patch)
                                (let ((d (plist-get patch :delegate))) (and d (concat "delegated to " d)))
                                (let ((b (plist-get patch :bundles)))
                                  (and (> (length b) 0)
                                       (concat (if (cdr (append b nil)) "bundles: " "bundle: ")
                                               (mapconcat (lambda (x) (plist-get x :name)) b ", ")))))))))

;;; The line in notmuch-show

(defface pwnm-sync-facts '((t :inherit notmuch-message-summary-face :weight normal))
  "Face of the Patchwork facts line in `notmuch-show'."
  :group 'pwnm-sync)

(defun pwnm-sync-show--line (message-id tags)
  "Return the facts line of MESSAGE-ID with TAGS, with its web button, or nil."
  (let ((parts (pwnm-sync-facts-parts message-id tags))
        (url (cl-loop for p in (let ((c (gethash message-id pwnm-sync-facts--cache))) (and (listp c) c))
                      thereis (plist-get p :webUrl))))
    (when parts
      (concat (propertize (concat "Patchwork: " (string-join parts " · ")) 'face 'pwnm-sync-facts)
              (if url
                  (concat " · " (with-temp-buffer
                                  (insert-text-button "[web]" 'action (lambda (_) (browse-url url))
                                                      'help-echo url 'follow-link t)
                                  (buffer-string)))
                "")))))

(defun pwnm-sync-show--insert-line (message-id)
  "Insert the facts line of MESSAGE-ID under its header line, in this show buffer."
  (let ((done nil)
        (inhibit-read-only t))
    (notmuch-show-mapc
     (lambda ()
       (when (and (not done) (equal (notmuch-show-get-message-id t) message-id))
         (setq done t)
         (let ((line (pwnm-sync-show--line message-id (notmuch-show-get-tags)))
               (extent (get-text-property (point) :notmuch-message-extent)))
           (forward-line 1)
           (when (get-text-property (point) 'pwnm-sync-facts)
             (delete-region (point) (min (point-max) (1+ (line-end-position)))))
           (when line
             ;; Inside the message's extent, so that show's motion counts it in.
             (insert (propertize (concat line "\n") :notmuch-message-extent extent
                                 'pwnm-sync-facts t)))))))))

(defun pwnm-sync-show--message-ids ()
  "Return the Message-Ids of the patch messages in this show buffer."
  (let ((ids nil))
    (notmuch-show-mapc (lambda ()
                         (when (member "patchwork" (notmuch-show-get-tags))
                           (push (notmuch-show-get-message-id t) ids))))
    (nreverse ids)))

(defun pwnm-sync-show-insert-facts ()
  "Put the Patchwork facts line under each patch message of this show buffer.
For `notmuch-show-hook'.  The state database's facts are asked for
once per message, in the background; the line goes in when they come."
  (when (and pwnm-sync-show-facts pwnm-sync-mode (derived-mode-p 'notmuch-show-mode))
    (let ((buffer (current-buffer)))
      (dolist (id (pwnm-sync-show--message-ids))
        (let ((insert (lambda (_) (when (buffer-live-p buffer)
                                    (with-current-buffer buffer (pwnm-sync-show--insert-line id))))))
          (if (pwnm-sync-facts-cached-p id)
              (funcall insert nil)
            (pwnm-sync-facts-request id insert)))))))

;;; Shorter tags

(defconst pwnm-sync--short-states
  '(("changes-requested" . "changes-req") ("under-review" . "review")
    ("not-applicable" . "n/a") ("awaiting-upstream" . "upstream"))
  "Shorter names for the long state slugs.")

(defun pwnm-sync-short-tag (tag)
  "Return how to show TAG: nil to hide it, a shorter name, or TAG.
The project tag is hidden; pw-PROJECT-REST shows as pw:REST, long
state slugs shortened."
  (pwnm-sync--load-facts)
  (let ((project (seq-find (lambda (p) (string-prefix-p (concat (plist-get p :tag) "-") tag))
                           pwnm-sync--facts)))
    (cond ((seq-find (lambda (p) (equal (plist-get p :tag) tag)) pwnm-sync--facts) nil)
          (project (let ((rest (substring tag (1+ (length (plist-get project :tag))))))
                     (concat "pw:" (or (cdr (assoc rest pwnm-sync--short-states)) rest))))
          (t tag))))

(defconst pwnm-sync-tag-formats
  ;; notmuch matches a regexp against the whole tag.
  '(("patchwork")
    ("pw-.*" (pwnm-sync-short-tag bare-tag)))
  "Entries for `notmuch-tag-formats' that hide or shorten pw- tags.")

(defun pwnm-sync--pw-tags ()
  "Return every pw- tag and `patchwork' in the notmuch database."
  (seq-filter (lambda (tag) (or (string-prefix-p "pw-" tag) (string= tag "patchwork")))
              (notmuch-call-notmuch-sexp "search" "--output=tags" "--format=sexp" "tag:patchwork")))

(defun pwnm-sync-hello-insert-alltags (&rest args)
  "Insert hello's \"All tags\" section (with ARGS) without the pw- tags."
  (let ((notmuch-hello-hide-tags (append (pwnm-sync--pw-tags) notmuch-hello-hide-tags)))
    (apply #'notmuch-hello-insert-alltags args)))

;;; Turning it on and off

(defun pwnm-sync-show-install ()
  "Add the facts line, and the tag display the user asked for."
  (add-hook 'notmuch-show-hook #'pwnm-sync-show-insert-facts t)
  (when pwnm-sync-short-tags
    (setq notmuch-tag-formats (append pwnm-sync-tag-formats notmuch-tag-formats))
    (notmuch-tag-clear-cache))
  (when pwnm-sync-hello-hide-tags
    (setq notmuch-hello-sections (cl-substitute #'pwnm-sync-hello-insert-alltags #'notmuch-hello-insert-alltags
                                                notmuch-hello-sections))))

(defun pwnm-sync-show-uninstall ()
  "Undo `pwnm-sync-show-install'."
  (remove-hook 'notmuch-show-hook #'pwnm-sync-show-insert-facts)
  (setq notmuch-tag-formats (cl-remove-if (lambda (e) (member e pwnm-sync-tag-formats)) notmuch-tag-formats))
  (notmuch-tag-clear-cache)
  (setq notmuch-hello-sections (cl-substitute #'notmuch-hello-insert-alltags #'pwnm-sync-hello-insert-alltags
                                              notmuch-hello-sections)))

(provide 'pwnm-sync-show)
;;; pwnm-sync-show.el ends here
