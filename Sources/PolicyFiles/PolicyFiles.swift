import Redaction
import Yams
