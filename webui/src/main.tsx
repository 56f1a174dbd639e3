// Entry point of the console: styles and the root component. Everything
// heavy (xterm.js, the recording player) is imported lazily from here on.
import { render } from 'preact'
import './styles.css'
import { App } from './ui/app'

render(<App />, document.getElementById('app')!)
