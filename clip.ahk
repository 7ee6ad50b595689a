; clip.ahk (AutoHotkey v2): one key in MS Paint adds the drawn yellow path to the training data.
;   Ctrl+F8  set the target layout and instance (asked once; e.g. "3 1" for data\train\3\1)
;   F8       select all, copy, run clip.py for that target; then undo (Ctrl+Z) and draw the next path
; Put this file in the repository root (next to clip.py) and run it with AutoHotkey v2.
#Requires AutoHotkey v2.0
#SingleInstance Force

global target := ""
python := A_ScriptDir "\.venv\Scripts\python.exe"

#HotIf WinActive("ahk_exe mspaint.exe")
^F8:: {
  global target
  ib := InputBox("Layout id and instance id, separated by a space (e.g. 3 1):", "clip.py target", , target)
  if ib.Result = "OK"
    target := Trim(ib.Value)
}

F8:: {
  global target
  if target = "" {
    MsgBox "Set the target first with Ctrl+F8."
    return
  }
  A_Clipboard := ""
  Send "^a"
  Sleep 100
  Send "^c"
  if !ClipWait(2, 1) {
    MsgBox "Paint did not put the image on the clipboard."
    return
  }
  ; the console closes on success and waits for a key on an error, so the message can be read
  RunWait A_ComSpec ' /c ""' python '" "' A_ScriptDir '\clip.py" ' target ' || pause"', A_ScriptDir
  Send "{Esc}"
}
#HotIf
